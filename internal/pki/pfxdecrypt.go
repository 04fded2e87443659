package pki

import (
	"bytes"
	"crypto/aes"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"unicode/utf16"
)

// This file decrypts the encrypted safes of a PFX with the same algorithms
// and password handling as go-pkcs12, so that checkPFXWork can read the
// iteration counts of the key bags inside them before go-pkcs12 derives
// their keys. It decrypts only; nothing here is used to produce files.

var (
	oidPBEWithSHAAnd3KeyTripleDESCBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	oidPBEWithSHAAnd128BitRC2CBC     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 5}
	oidPBEWithSHAAnd40BitRC2CBC      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 6}
	oidPBES2                         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2                        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACWithSHA1                  = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACWithSHA256                = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACWithSHA512                = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC                     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC                     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC                     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// errPFXUnsupported means a PFX uses an encryption algorithm that neither
// this package nor go-pkcs12 decrypts.
var errPFXUnsupported = errors.New("unsupported PFX encryption algorithm")

// errPFXDecrypt means a ciphertext did not decrypt to correctly padded
// plaintext: the password is wrong or the data is corrupt.
var errPFXDecrypt = errors.New("PFX decryption failed")

// blockDecrypter is the part of cipher.Block that CBC decryption needs.
type blockDecrypter interface {
	BlockSize() int
	Decrypt(dst, src []byte)
}

// pfxDecrypt decrypts ciphertext encrypted with alg (PKCS#12 PBE, RFC 7292
// appendix C, or PBES2, RFC 8018 section 6.2) under password, given as
// go-pkcs12 passes it: a zero-terminated BMPString, or nil for its
// empty-password fallback.
func pfxDecrypt(alg pkix.AlgorithmIdentifier, ciphertext, password []byte) ([]byte, error) {
	var (
		block blockDecrypter
		iv    []byte
		err   error
	)
	isPBE := alg.Algorithm.Equal(oidPBEWithSHAAnd3KeyTripleDESCBC) ||
		alg.Algorithm.Equal(oidPBEWithSHAAnd128BitRC2CBC) ||
		alg.Algorithm.Equal(oidPBEWithSHAAnd40BitRC2CBC)
	if !isPBE && !alg.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("%w %s", errPFXUnsupported, alg.Algorithm)
	}
	if len(ciphertext) == 0 || len(ciphertext)%8 != 0 {
		return nil, errPFXDecrypt // whatever the key; do not derive it
	}
	switch {
	case isPBE:
		var params struct {
			Salt       []byte
			Iterations int
		}
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err != nil {
			return nil, fmt.Errorf("PBE parameters: %w", err)
		}
		keyLen := 24
		switch {
		case alg.Algorithm.Equal(oidPBEWithSHAAnd128BitRC2CBC):
			keyLen = 16
		case alg.Algorithm.Equal(oidPBEWithSHAAnd40BitRC2CBC):
			keyLen = 5
		}
		key := pkcs12KDF(sha1.New, 20, 64, params.Salt, password, params.Iterations, 1, keyLen)
		iv = pkcs12KDF(sha1.New, 20, 64, params.Salt, password, params.Iterations, 2, 8)
		if keyLen == 24 {
			block, err = des.NewTripleDESCipher(key)
		} else {
			block = newRC2(key, keyLen*8)
		}
	default:
		block, iv, err = pbes2Cipher(alg, password)
	}
	if err != nil {
		return nil, err
	}
	return cbcDecrypt(block, iv, ciphertext)
}

// pbes2Cipher reads PBES2 parameters with PBKDF2 and AES-CBC. As go-pkcs12
// (and Windows) do, the password is the UTF-8 form of the BMPString.
func pbes2Cipher(alg pkix.AlgorithmIdentifier, password []byte) (blockDecrypter, []byte, error) {
	var params struct {
		KDF        pkix.AlgorithmIdentifier
		Encryption pkix.AlgorithmIdentifier
	}
	if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err != nil {
		return nil, nil, fmt.Errorf("PBES2 parameters: %w", err)
	}
	if !params.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, nil, fmt.Errorf("%w: PBES2 key derivation %s", errPFXUnsupported, params.KDF.Algorithm)
	}
	var kdf struct {
		Salt       asn1.RawValue
		Iterations int
		KeyLength  int                      `asn1:"optional"`
		PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(params.KDF.Parameters.FullBytes, &kdf); err != nil {
		return nil, nil, fmt.Errorf("PBKDF2 parameters: %w", err)
	}
	if kdf.Salt.Tag != asn1.TagOctetString {
		return nil, nil, fmt.Errorf("%w: PBKDF2 salt is not an OCTET STRING", errPFXUnsupported)
	}
	var prf func() hash.Hash
	switch {
	case kdf.PRF.Algorithm == nil, kdf.PRF.Algorithm.Equal(oidHMACWithSHA1):
		prf = sha1.New
	case kdf.PRF.Algorithm.Equal(oidHMACWithSHA256):
		prf = sha256.New
	case kdf.PRF.Algorithm.Equal(oidHMACWithSHA512):
		prf = sha512.New
	default:
		return nil, nil, fmt.Errorf("%w: PBKDF2 PRF %s", errPFXUnsupported, kdf.PRF.Algorithm)
	}
	var keyLen int
	switch {
	case params.Encryption.Algorithm.Equal(oidAES128CBC):
		keyLen = 16
	case params.Encryption.Algorithm.Equal(oidAES192CBC):
		keyLen = 24
	case params.Encryption.Algorithm.Equal(oidAES256CBC):
		keyLen = 32
	default:
		return nil, nil, fmt.Errorf("%w: PBES2 cipher %s", errPFXUnsupported, params.Encryption.Algorithm)
	}
	utf8Password, err := decodeBMPString(password)
	if err != nil {
		return nil, nil, err
	}
	key, err := pbkdf2.Key(prf, utf8Password, kdf.Salt.Bytes, kdf.Iterations, keyLen)
	if err != nil {
		return nil, nil, fmt.Errorf("PBKDF2: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	iv := params.Encryption.Parameters.Bytes
	if len(iv) != block.BlockSize() {
		return nil, nil, fmt.Errorf("PBES2 IV has %d bytes, want %d", len(iv), block.BlockSize())
	}
	return block, iv, nil
}

// cbcDecrypt decrypts CBC with PKCS#7 padding (RFC 8018 section 6.1.1
// step 4), refusing what go-pkcs12 refuses.
func cbcDecrypt(block blockDecrypter, iv, ciphertext []byte) ([]byte, error) {
	bs := block.BlockSize()
	if len(ciphertext) == 0 || len(ciphertext)%bs != 0 || len(iv) != bs {
		return nil, errPFXDecrypt
	}
	out := make([]byte, len(ciphertext))
	prev := iv
	for i := 0; i < len(ciphertext); i += bs {
		block.Decrypt(out[i:i+bs], ciphertext[i:i+bs])
		for j := range bs {
			out[i+j] ^= prev[j]
		}
		prev = ciphertext[i : i+bs]
	}
	pad := int(out[len(out)-1])
	if pad == 0 || pad > bs || !bytes.Equal(out[len(out)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, errPFXDecrypt
	}
	return out[:len(out)-pad], nil
}

// pkcs12KDF is the PKCS#12 key derivation function of RFC 7292 appendix
// B.2, with hash output u bytes and block v bytes; id is 1 for a key, 2
// for an IV, 3 for a MAC key. Like go-pkcs12 it hashes once when r < 1.
func pkcs12KDF(newHash func() hash.Hash, u, v int, salt, password []byte, r int, id byte, size int) []byte {
	d := bytes.Repeat([]byte{id}, v)
	i := append(fillRepeats(salt, v), fillRepeats(password, v)...)
	c := (size + u - 1) / u
	out := make([]byte, 0, c*u)
	h := newHash()
	for n := range c {
		h.Reset()
		h.Write(d)
		h.Write(i)
		a := h.Sum(nil)
		for j := 1; j < r; j++ {
			h.Reset()
			h.Write(a)
			a = h.Sum(a[:0])
		}
		out = append(out, a...)
		if n == c-1 {
			break
		}
		// Step 6C: I_j = (I_j + B + 1) mod 2^(8v) for every v-byte block.
		b := fillRepeats(a, v)[:v]
		for k := 0; k+v <= len(i); k += v {
			carry := 1
			for x := v - 1; x >= 0; x-- {
				s := int(i[k+x]) + int(b[x]) + carry
				i[k+x], carry = byte(s), s>>8
			}
		}
	}
	return out[:size]
}

// fillRepeats returns v*ceil(len(p)/v) bytes of repeated p (RFC 7292
// appendix B.2 steps 2 and 3); nil for an empty p.
func fillRepeats(p []byte, v int) []byte {
	if len(p) == 0 {
		return nil
	}
	n := v * ((len(p) + v - 1) / v)
	return bytes.Repeat(p, (n+len(p)-1)/len(p))[:n]
}

// bmpPassword encodes password as go-pkcs12 does: UCS-2 big-endian with a
// zero terminator (RFC 7292 appendix B.1). ok is false for characters
// outside the Basic Multilingual Plane, which go-pkcs12 refuses.
func bmpPassword(password string) (enc []byte, ok bool) {
	enc = make([]byte, 0, 2*len(password)+2)
	for _, r := range password {
		if t, _ := utf16.EncodeRune(r); t != 0xfffd {
			return nil, false
		}
		enc = append(enc, byte(r>>8), byte(r))
	}
	return append(enc, 0, 0), true
}

// decodeBMPString turns a (possibly zero-terminated) BMPString back into
// a Go string.
func decodeBMPString(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", errors.New("PFX password: odd-length BMPString")
	}
	if n := len(b); n >= 2 && b[n-1] == 0 && b[n-2] == 0 {
		b = b[:n-2]
	}
	s := make([]uint16, 0, len(b)/2)
	for ; len(b) > 0; b = b[2:] {
		s = append(s, uint16(b[0])<<8|uint16(b[1]))
	}
	return string(utf16.Decode(s)), nil
}
