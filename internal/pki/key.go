package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"
)

// KeyType names a key algorithm and size, as a certificate policy states it.
type KeyType string

// The supported key types.
const (
	KeyTypeRSA2048 KeyType = "rsa2048"
	KeyTypeRSA3072 KeyType = "rsa3072"
	KeyTypeRSA4096 KeyType = "rsa4096"
	KeyTypeEC256   KeyType = "ec256"
	KeyTypeEC384   KeyType = "ec384"
)

var keyTypes = []KeyType{KeyTypeRSA2048, KeyTypeRSA3072, KeyTypeRSA4096, KeyTypeEC256, KeyTypeEC384}

// ParseKeyType returns the KeyType named by s (case-insensitive, surrounding
// space ignored), or an error listing the valid values.
func ParseKeyType(s string) (KeyType, error) {
	want := KeyType(strings.ToLower(strings.TrimSpace(s)))
	for _, kt := range keyTypes {
		if kt == want {
			return kt, nil
		}
	}
	names := make([]string, len(keyTypes))
	for i, kt := range keyTypes {
		names[i] = string(kt)
	}
	return "", fmt.Errorf("unknown key type %q: valid values are %s", s, strings.Join(names, ", "))
}

// GenerateKey creates a new private key of type kt.
func GenerateKey(kt KeyType) (crypto.Signer, error) {
	var (
		key crypto.Signer
		err error
	)
	switch kt {
	case KeyTypeRSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case KeyTypeRSA3072:
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case KeyTypeRSA4096:
		key, err = rsa.GenerateKey(rand.Reader, 4096)
	case KeyTypeEC256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyTypeEC384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		_, err = ParseKeyType(string(kt))
		return nil, fmt.Errorf("generate key: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", kt, err)
	}
	return key, nil
}
