package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// SymmetricParams are the members of a key operation that AES algorithms
// use (Key Vault's iv, aad and tag); RSA algorithms refuse them.
type SymmetricParams struct {
	// IV is the initialization vector: required to decrypt; for A*CBC and
	// A*CBCPAD encryption optional (the vault draws one when absent); for
	// A*GCM encryption it must be absent: the vault draws every nonce, so
	// that a caller cannot reuse one.
	IV []byte
	// AAD is additional authenticated data (A*GCM only).
	AAD []byte
	// Tag is the GCM authentication tag (A*GCM decryption only).
	Tag []byte
}

func (p SymmetricParams) empty() bool { return len(p.IV) == 0 && len(p.AAD) == 0 && len(p.Tag) == 0 }

// AES algorithm modes.
const (
	modeGCM    = "GCM"
	modeCBC    = "CBC"
	modeCBCPad = "CBCPAD"
	modeKW     = "KW"
)

type aesAlg struct {
	mode string
	// keyBytes is the key size the algorithm names (A128… = 16).
	keyBytes int
}

var aesAlgs = map[string]aesAlg{
	"A128GCM": {modeGCM, 16}, "A192GCM": {modeGCM, 24}, "A256GCM": {modeGCM, 32},
	"A128CBC": {modeCBC, 16}, "A192CBC": {modeCBC, 24}, "A256CBC": {modeCBC, 32},
	"A128CBCPAD": {modeCBCPad, 16}, "A192CBCPAD": {modeCBCPad, 24}, "A256CBCPAD": {modeCBCPad, 32},
	"A128KW": {modeKW, 16}, "A192KW": {modeKW, 24}, "A256KW": {modeKW, 32},
}

const (
	gcmNonceSize = 12
	gcmTagSize   = 16
)

// lookupAESAlg resolves alg for an oct key: wrap selects the KW algorithms
// (wrapKey/unwrapKey), otherwise the encryption ones.
func lookupAESAlg(alg string, key []byte, wrap bool) (aesAlg, cipher.Block, error) {
	a, ok := aesAlgs[alg]
	if !ok || (a.mode == modeKW) != wrap {
		if wrap {
			return aesAlg{}, nil, badRequest("algorithm %q cannot wrap with an oct key: use A128KW, A192KW or A256KW (per the key's size)", alg)
		}
		return aesAlg{}, nil, badRequest("algorithm %q cannot encrypt with an oct key: use A128GCM, A192GCM, A256GCM, A128CBC, A192CBC, A256CBC, A128CBCPAD, A192CBCPAD or A256CBCPAD (per the key's size)", alg)
	}
	if a.keyBytes != len(key) {
		return aesAlg{}, nil, badRequest("algorithm %s needs a %d-bit key; this key has %d bits", alg, a.keyBytes*8, len(key)*8)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return aesAlg{}, nil, internal(err, "AES key")
	}
	return a, block, nil
}

// aesEncrypt encrypts with an oct key (Key Vault's ciphertext and tag are
// separate members; the result carries iv, tag and aad back).
func aesEncrypt(key []byte, alg string, plaintext []byte, p SymmetricParams) (KeyOperationResult, error) {
	a, block, err := lookupAESAlg(alg, key, false)
	if err != nil {
		return KeyOperationResult{}, err
	}
	switch a.mode {
	case modeGCM:
		if len(p.IV) > 0 {
			return KeyOperationResult{}, badRequest("iv must not be set to encrypt with %s: the vault draws a fresh 12-byte nonce for each encryption and returns it in iv", alg)
		}
		if len(p.Tag) > 0 {
			return KeyOperationResult{}, badRequest("tag is an output of %s encryption, not an input", alg)
		}
		gcm, _ := cipher.NewGCM(block)
		nonce := make([]byte, gcmNonceSize)
		if _, err := rand.Read(nonce); err != nil {
			return KeyOperationResult{}, internal(err, "draw GCM nonce")
		}
		sealed := gcm.Seal(nil, nonce, plaintext, p.AAD)
		cut := len(sealed) - gcmTagSize
		return KeyOperationResult{Result: NewValue(sealed[:cut]), IV: nonce, AuthenticationTag: sealed[cut:], AdditionalAuthenticatedData: p.AAD}, nil
	default: // CBC, CBCPAD
		if len(p.AAD) > 0 || len(p.Tag) > 0 {
			return KeyOperationResult{}, badRequest("aad and tag belong to the GCM algorithms, not %s", alg)
		}
		iv := p.IV
		if len(iv) == 0 {
			iv = make([]byte, aes.BlockSize)
			if _, err := rand.Read(iv); err != nil {
				return KeyOperationResult{}, internal(err, "draw CBC iv")
			}
		}
		if len(iv) != aes.BlockSize {
			return KeyOperationResult{}, badRequest("iv for %s must be %d bytes, got %d", alg, aes.BlockSize, len(iv))
		}
		data := plaintext
		if a.mode == modeCBCPad {
			data = pkcs7Pad(plaintext)
		} else if len(data)%aes.BlockSize != 0 || len(data) == 0 {
			return KeyOperationResult{}, badRequest("%s encrypts whole 16-byte blocks, got %d bytes: use %sPAD to pad", alg, len(data), alg)
		}
		out := make([]byte, len(data))
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, data)
		return KeyOperationResult{Result: NewValue(out), IV: iv}, nil
	}
}

// decryptFailed is the one answer to every failed AES decryption, so that
// the answer says nothing about which check failed.
func decryptFailed(alg string) error {
	return badRequest("decryption failed: the ciphertext, iv, tag or aad were not made with %s under this key version", alg)
}

// aesDecrypt decrypts with an oct key.
func aesDecrypt(key []byte, alg string, ciphertext []byte, p SymmetricParams) (KeyOperationResult, error) {
	a, block, err := lookupAESAlg(alg, key, false)
	if err != nil {
		return KeyOperationResult{}, err
	}
	switch a.mode {
	case modeGCM:
		if len(p.IV) != gcmNonceSize {
			return KeyOperationResult{}, badRequest("iv for %s must be the %d-byte nonce the encryption returned, got %d bytes", alg, gcmNonceSize, len(p.IV))
		}
		if len(p.Tag) != gcmTagSize {
			return KeyOperationResult{}, badRequest("tag for %s must be the %d-byte tag the encryption returned, got %d bytes", alg, gcmTagSize, len(p.Tag))
		}
		gcm, _ := cipher.NewGCM(block)
		in := make([]byte, 0, len(ciphertext)+gcmTagSize)
		in = append(append(in, ciphertext...), p.Tag...)
		out, err := gcm.Open(nil, p.IV, in, p.AAD)
		if err != nil {
			return KeyOperationResult{}, decryptFailed(alg)
		}
		return KeyOperationResult{Result: NewValue(out)}, nil
	default:
		if len(p.AAD) > 0 || len(p.Tag) > 0 {
			return KeyOperationResult{}, badRequest("aad and tag belong to the GCM algorithms, not %s", alg)
		}
		if len(p.IV) != aes.BlockSize {
			return KeyOperationResult{}, badRequest("iv for %s must be the %d-byte iv of the encryption, got %d bytes", alg, aes.BlockSize, len(p.IV))
		}
		if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
			return KeyOperationResult{}, decryptFailed(alg)
		}
		out := make([]byte, len(ciphertext))
		cipher.NewCBCDecrypter(block, p.IV).CryptBlocks(out, ciphertext)
		if a.mode == modeCBCPad {
			var ok bool
			if out, ok = pkcs7Unpad(out); !ok {
				return KeyOperationResult{}, decryptFailed(alg)
			}
		}
		return KeyOperationResult{Result: NewValue(out)}, nil
	}
}

// pkcs7Pad pads to a whole number of AES blocks (RFC 5652 section 6.3).
func pkcs7Pad(b []byte) []byte {
	n := aes.BlockSize - len(b)%aes.BlockSize
	out := make([]byte, len(b)+n)
	copy(out, b)
	for i := len(b); i < len(out); i++ {
		out[i] = byte(n)
	}
	return out
}

// pkcs7Unpad removes PKCS#7 padding, checking every padding byte in
// constant time.
func pkcs7Unpad(b []byte) ([]byte, bool) {
	if len(b) == 0 || len(b)%aes.BlockSize != 0 {
		return nil, false
	}
	n := int(b[len(b)-1])
	good := subtle.ConstantTimeLessOrEq(1, n) & subtle.ConstantTimeLessOrEq(n, aes.BlockSize)
	for i := 1; i <= aes.BlockSize; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, n)
		same := subtle.ConstantTimeByteEq(b[len(b)-i], byte(n))
		good &= subtle.ConstantTimeSelect(inPad, same, 1)
	}
	if good != 1 {
		return nil, false
	}
	return b[:len(b)-n], true
}

// kwDefaultIV is RFC 3394 section 2.2.3.1's initial value.
var kwDefaultIV = [8]byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}

// aesKeyWrap wraps key data (a multiple of 8 bytes, at least 16) with
// RFC 3394 section 2.2.1.
func aesKeyWrap(block cipher.Block, plaintext []byte) ([]byte, error) {
	if len(plaintext) < 16 || len(plaintext)%8 != 0 {
		return nil, fmt.Errorf("AES key wrap takes a multiple of 8 bytes, at least 16; got %d bytes", len(plaintext))
	}
	n := len(plaintext) / 8
	out := make([]byte, 8+len(plaintext))
	copy(out[8:], plaintext)
	var a [8]byte = kwDefaultIV
	var b [16]byte
	for j := 0; j <= 5; j++ {
		for i := 1; i <= n; i++ {
			copy(b[:8], a[:])
			copy(b[8:], out[8*i:8*i+8])
			block.Encrypt(b[:], b[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(a[:], binary.BigEndian.Uint64(b[:8])^t)
			copy(out[8*i:], b[8:])
		}
	}
	copy(out[:8], a[:])
	return out, nil
}

// aesKeyUnwrap reverses aesKeyWrap (RFC 3394 section 2.2.2) and checks the
// integrity value in constant time.
func aesKeyUnwrap(block cipher.Block, wrapped []byte) ([]byte, bool) {
	if len(wrapped) < 24 || len(wrapped)%8 != 0 {
		return nil, false
	}
	n := len(wrapped)/8 - 1
	r := make([]byte, len(wrapped)-8)
	copy(r, wrapped[8:])
	var a [8]byte
	copy(a[:], wrapped[:8])
	var b [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(a[:])^t)
			copy(b[8:], r[8*(i-1):8*i])
			block.Decrypt(b[:], b[:])
			copy(a[:], b[:8])
			copy(r[8*(i-1):], b[8:])
		}
	}
	if subtle.ConstantTimeCompare(a[:], kwDefaultIV[:]) != 1 {
		clear(r)
		return nil, false
	}
	return r, true
}

// aesWrap wraps a key with an oct key (A*KW).
func aesWrap(key []byte, alg string, plaintext []byte, p SymmetricParams) (KeyOperationResult, error) {
	_, block, err := lookupAESAlg(alg, key, true)
	if err != nil {
		return KeyOperationResult{}, err
	}
	if !p.empty() {
		return KeyOperationResult{}, badRequest("iv, aad and tag do not apply to %s (RFC 3394 uses its own initial value)", alg)
	}
	out, err := aesKeyWrap(block, plaintext)
	if err != nil {
		return KeyOperationResult{}, badRequest("%s: %v", alg, err)
	}
	return KeyOperationResult{Result: NewValue(out)}, nil
}

// aesUnwrap unwraps a key with an oct key (A*KW).
func aesUnwrap(key []byte, alg string, wrapped []byte, p SymmetricParams) (KeyOperationResult, error) {
	_, block, err := lookupAESAlg(alg, key, true)
	if err != nil {
		return KeyOperationResult{}, err
	}
	if !p.empty() {
		return KeyOperationResult{}, badRequest("iv, aad and tag do not apply to %s (RFC 3394 uses its own initial value)", alg)
	}
	out, ok := aesKeyUnwrap(block, wrapped)
	if !ok {
		return KeyOperationResult{}, badRequest("unwrap failed: the value was not wrapped with %s under this key version", alg)
	}
	return KeyOperationResult{Result: NewValue(out)}, nil
}
