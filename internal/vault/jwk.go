package vault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Base64URL is bytes that JSON encodes as unpadded base64url (RFC 7515
// section 2), as JWK members are; decoding also accepts padding.
type Base64URL []byte

// MarshalJSON encodes b as an unpadded base64url string.
func (b Base64URL) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.RawURLEncoding.EncodeToString(b))
}

// UnmarshalJSON decodes a base64url string, padded or not.
func (b *Base64URL) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	d, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return errors.New("not base64url")
	}
	*b = d
	return nil
}

// JSONWebKey is a key in JWK form (RFC 7517) with Key Vault's members. Keys
// leave the vault with their public members only.
type JSONWebKey struct {
	KID    string   `json:"kid,omitempty"`
	Kty    string   `json:"kty"`
	KeyOps []string `json:"key_ops,omitempty"`
	// RSA members.
	N  Base64URL `json:"n,omitempty"`
	E  Base64URL `json:"e,omitempty"`
	D  Base64URL `json:"d,omitempty"`
	DP Base64URL `json:"dp,omitempty"`
	DQ Base64URL `json:"dq,omitempty"`
	QI Base64URL `json:"qi,omitempty"`
	P  Base64URL `json:"p,omitempty"`
	Q  Base64URL `json:"q,omitempty"`
	// EC members.
	Crv string    `json:"crv,omitempty"`
	X   Base64URL `json:"x,omitempty"`
	Y   Base64URL `json:"y,omitempty"`
	// K is an oct (AES) key's value: accepted on import, never returned.
	K Base64URL `json:"k,omitempty"`
	// T is an HSM key-transfer blob; not supported.
	T Base64URL `json:"key_hsm,omitempty"`
}

// publicJWK describes a public key (RSA or EC P-256/P-384/P-521).
func publicJWK(pub crypto.PublicKey, ops []string) (JSONWebKey, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return JSONWebKey{Kty: "RSA", KeyOps: ops, N: k.N.Bytes(), E: big.NewInt(int64(k.E)).Bytes()}, nil
	case *ecdsa.PublicKey:
		crv, size := "", 0
		switch k.Curve {
		case elliptic.P256():
			crv, size = "P-256", 32
		case elliptic.P384():
			crv, size = "P-384", 48
		case elliptic.P521():
			crv, size = "P-521", 66
		default:
			return JSONWebKey{}, badRequest("EC curve %s is not supported: use P-256, P-384 or P-521", k.Curve.Params().Name)
		}
		pt, err := k.Bytes() // uncompressed 0x04 || X || Y
		if err != nil {
			return JSONWebKey{}, badRequest("invalid EC public key")
		}
		return JSONWebKey{Kty: "EC", KeyOps: ops, Crv: crv, X: pt[1 : 1+size], Y: pt[1+size:]}, nil
	case *secp256k1.PublicKey:
		return secp256k1JWK(k, ops), nil
	}
	return JSONWebKey{}, badRequest("%T keys are not supported", pub)
}

// privateKey builds the private key a JWK with private members describes.
func (j JSONWebKey) privateKey() (crypto.Signer, error) {
	kty := strings.ToUpper(j.Kty)
	switch kty {
	case "RSA-HSM", "EC-HSM", "OCT-HSM":
		return nil, unsupported("kty %q cannot be imported: HSM key-transfer blobs need an HSM; use an RSA, EC or oct JWK with its private members", j.Kty)
	case "OCT":
		return nil, badRequest("an oct JWK is a symmetric key, not a signing key")
	case "RSA":
		if len(j.N) == 0 || len(j.E) == 0 || len(j.D) == 0 || len(j.P) == 0 || len(j.Q) == 0 {
			return nil, badRequest("the RSA JWK must carry n, e, d, p and q to be imported")
		}
		if len(j.E) > 4 {
			return nil, badRequest("the RSA JWK's public exponent e is too large")
		}
		e := new(big.Int).SetBytes(j.E)
		k := &rsa.PrivateKey{
			PublicKey: rsa.PublicKey{N: new(big.Int).SetBytes(j.N), E: int(e.Int64())},
			D:         new(big.Int).SetBytes(j.D),
			Primes:    []*big.Int{new(big.Int).SetBytes(j.P), new(big.Int).SetBytes(j.Q)},
		}
		if n := k.N.BitLen(); n != 2048 && n != 3072 && n != 4096 {
			return nil, badRequest("RSA keys of %d bits are not supported: use 2048, 3072 or 4096 bits", n)
		}
		if err := k.Validate(); err != nil {
			return nil, badRequest("the RSA JWK is not a valid key: %v", err)
		}
		k.Precompute()
		return k, nil
	case "EC":
		if j.Crv == CurveP256K {
			return secp256k1FromJWK(j.D, j.X, j.Y)
		}
		var curve elliptic.Curve
		switch j.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, badRequest("EC curve %q is not supported: use P-256, P-384, P-521 or P-256K", j.Crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(j.D) == 0 || len(j.D) > size || len(j.X) > size || len(j.Y) > size {
			return nil, badRequest("the EC JWK must carry d, x and y of %d bytes at most to be imported", size)
		}
		d := make([]byte, size)
		copy(d[size-len(j.D):], j.D)
		k, err := ecdsa.ParseRawPrivateKey(curve, d)
		if err != nil {
			return nil, badRequest("the EC JWK is not a valid key: %v", err)
		}
		pt, _ := k.PublicKey.Bytes()
		if new(big.Int).SetBytes(j.X).Cmp(new(big.Int).SetBytes(pt[1:1+size])) != 0 || new(big.Int).SetBytes(j.Y).Cmp(new(big.Int).SetBytes(pt[1+size:])) != 0 {
			return nil, badRequest("the EC JWK's x and y do not match its private key d")
		}
		return k, nil
	}
	return nil, badRequest("kty %q is not supported: use RSA or EC", j.Kty)
}

// material returns the key a JWK with private members describes: an RSA or
// EC private key, or an oct key's bytes (k of 16, 24 or 32 bytes).
func (j JSONWebKey) material() (keyMaterial, error) {
	if strings.EqualFold(j.Kty, KeyTypeOct) {
		if len(j.K) == 0 {
			return keyMaterial{}, badRequest("the oct JWK must carry k (the AES key, base64url) to be imported")
		}
		if err := checkOctSize(len(j.K) * 8); err != nil {
			return keyMaterial{}, err
		}
		return keyMaterial{secret: append([]byte(nil), j.K...), octKty: KeyTypeOct}, nil
	}
	k, err := j.privateKey()
	if err != nil {
		return keyMaterial{}, err
	}
	return keyMaterial{signer: k}, nil
}

// ParseJWK decodes a JWK from JSON (unknown members are ignored, as RFC 7517
// section 4 requires).
func ParseJWK(data []byte) (JSONWebKey, error) {
	var j JSONWebKey
	if err := json.Unmarshal(data, &j); err != nil {
		return JSONWebKey{}, badRequest("invalid JWK: %v", err)
	}
	return j, nil
}

// parsePrivateKeyPEM reads one unencrypted PKCS#8, PKCS#1 or SEC1 private key.
func parsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, badRequest("malformed PEM: no PEM block found (expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)")
	}
	if strings.Contains(string(rest), "-----BEGIN ") {
		if b2, _ := pem.Decode(rest); b2 == nil || strings.Contains(b2.Type, "PRIVATE KEY") {
			return nil, badRequest("the PEM holds more than one block: import one private key")
		}
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["DEK-Info"] != "" {
		return nil, badRequest("encrypted PEM private keys are not supported: decrypt it first (openssl pkey)")
	}
	if !strings.HasSuffix(block.Type, "PRIVATE KEY") {
		return nil, badRequest("the PEM block is %q, not a private key", block.Type)
	}
	var k any
	var err error
	if k, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if k, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			if k, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
				if k256, kerr := parseSecp256k1PKCS8(block.Bytes); kerr == nil {
					return k256, nil
				}
				return nil, badRequest("the PEM block is not a PKCS#8, PKCS#1 or SEC1 private key of a supported type")
			}
		}
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, badRequest("%T keys are not supported", k)
	}
	return signer, nil
}
