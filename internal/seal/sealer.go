package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// Errors that Open wraps; callers branch on them with errors.Is.
var (
	// ErrMalformed means the input is not a sealed blob this version reads.
	ErrMalformed = errors.New("seal: malformed sealed blob")
	// ErrRootKeyMismatch means the blob was sealed under another root key.
	ErrRootKeyMismatch = errors.New("seal: sealed under another root key")
	// ErrAuthentication means the blob was tampered with or the aad differs.
	ErrAuthentication = errors.New("seal: authentication failed (wrong context or tampered data)")
)

// Blob layout (version 1), all fields fixed-size except the ciphertext:
//
//	version     1 byte  (= 1)
//	root key id 4 bytes
//	wrapped DEK 12-byte nonce + 32-byte key + 16-byte tag
//	nonce       12 bytes
//	ciphertext  plaintext length + 16-byte tag
const (
	version1    = 1
	nonceSize   = 12
	tagSize     = 16
	dekSize     = 32
	wrappedSize = nonceSize + dekSize + tagSize
	headerSize  = 1 + idLen + wrappedSize
	minBlobSize = headerSize + nonceSize + tagSize
)

// Sealer encrypts and decrypts values under one root key; it is safe for
// concurrent use.
type Sealer struct {
	id   [idLen]byte
	wrap cipher.AEAD // nil when built from the zero RootKey
}

// NewSealer returns a Sealer for root; with the zero RootKey every Seal and
// Open fails.
func NewSealer(root RootKey) *Sealer {
	s := &Sealer{id: root.id}
	if root.set {
		s.wrap, _ = newGCM(root.key[:]) // cannot fail for a 32-byte key
	}
	return s
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext with AES-256-GCM under a fresh random data key,
// wraps that key with the root key, and returns a versioned blob (version,
// root key id, wrapped data key, nonce, ciphertext); aad binds the blob to
// its context (e.g. "signing-key/<tenant>/<kid>") and is authenticated, not
// stored.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	if s == nil || s.wrap == nil {
		return nil, errors.New("seal: no root key")
	}
	dek := make([]byte, dekSize)
	defer clear(dek)
	out := make([]byte, headerSize+nonceSize, minBlobSize+len(plaintext))
	out[0] = version1
	copy(out[1:], s.id[:])
	wrapNonce := out[1+idLen : 1+idLen+nonceSize]
	nonce := out[headerSize:]
	for _, b := range [][]byte{dek, wrapNonce, nonce} {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("seal: random: %w", err)
		}
	}
	// The wrapped key is bound to the version and root key id; the payload
	// to the whole header and the caller's context (fixed-size header, so
	// the concatenation is unambiguous).
	s.wrap.Seal(out[1+idLen+nonceSize:1+idLen+nonceSize], wrapNonce, dek, out[:1+idLen])
	aead, err := newGCM(dek)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, payloadAAD(out[:headerSize], aad)), nil
}

// Open decrypts a blob made by Seal with the same root key and aad; it fails
// with ErrMalformed, ErrRootKeyMismatch (naming both key ids) or
// ErrAuthentication.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	if s == nil || s.wrap == nil {
		return nil, errors.New("seal: no root key")
	}
	if len(sealed) < minBlobSize {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrMalformed, len(sealed), minBlobSize)
	}
	if sealed[0] != version1 {
		return nil, fmt.Errorf("%w: unknown version %d", ErrMalformed, sealed[0])
	}
	if id := sealed[1 : 1+idLen]; string(id) != string(s.id[:]) {
		return nil, fmt.Errorf("%w: blob root key %s, this process holds %s", ErrRootKeyMismatch, hex.EncodeToString(id), hex.EncodeToString(s.id[:]))
	}
	wrapNonce := sealed[1+idLen : 1+idLen+nonceSize]
	dek, err := s.wrap.Open(nil, wrapNonce, sealed[1+idLen+nonceSize:headerSize], sealed[:1+idLen])
	if err != nil {
		return nil, fmt.Errorf("%w: data key", ErrAuthentication)
	}
	defer clear(dek)
	nonce := sealed[headerSize : headerSize+nonceSize]
	aead, err := newGCM(dek)
	if err != nil {
		return nil, fmt.Errorf("%w: data key: %v", ErrMalformed, err)
	}
	pt, err := aead.Open(nil, nonce, sealed[headerSize+nonceSize:], payloadAAD(sealed[:headerSize], aad))
	if err != nil {
		return nil, ErrAuthentication
	}
	return pt, nil
}

// SealedBy returns the ID of the root key that sealed blob, so that a rekey
// can tell which blobs still need rewrapping.
func SealedBy(sealed []byte) (string, error) {
	if len(sealed) < minBlobSize || sealed[0] != version1 {
		return "", ErrMalformed
	}
	return hex.EncodeToString(sealed[1 : 1+idLen]), nil
}

func payloadAAD(header, aad []byte) []byte {
	b := make([]byte, 0, len(header)+len(aad))
	return append(append(b, header...), aad...)
}
