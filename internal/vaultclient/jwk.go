package vaultclient

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k256ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/portcullis/portcullis/internal/pki"
)

// ParsePrivateKeyPEM reads the one private key of a PEM file: PKCS#8
// "PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY" or SEC1 "EC PRIVATE KEY" (other
// blocks, such as certificates, are ignored). Encrypted keys are refused.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	var found crypto.Signer
	sawBlock := false
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		sawBlock = true
		var key any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				// Key Vault itself once emitted PKCS#1 in a PRIVATE KEY block.
				if k, err1 := x509.ParsePKCS1PrivateKey(b.Bytes); err1 == nil {
					key, err = k, nil
				} else if k, err2 := x509.ParseECPrivateKey(b.Bytes); err2 == nil {
					key, err = k, nil
				} else if k, err3 := pki.ParseSecp256k1PrivateKey(b.Bytes); err3 == nil {
					key, err = secp256k1Signer{k}, nil
				}
			}
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
			if err != nil {
				// The standard library knows no secp256k1 (Key Vault's P-256K).
				if k, err1 := pki.ParseSecp256k1PrivateKey(b.Bytes); err1 == nil {
					key, err = secp256k1Signer{k}, nil
				}
			}
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the PEM private key is encrypted: decrypt it first, e.g. openssl pkey -in key.pem -out plain.pem")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("PEM %s block: %w", b.Type, err)
		}
		if found != nil {
			return nil, errors.New("the PEM file holds more than one private key: give a file with exactly one")
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("private key type %T is not supported: use an RSA or EC key", key)
		}
		found = s
	}
	if found == nil {
		if !sawBlock {
			return nil, errors.New("no PEM data: give a PEM file with a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block")
		}
		return nil, errors.New("the PEM file holds no private key block (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")
	}
	return found, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// PrivateJWK returns key in JWK form with its private members, for
// ImportKey: RSA (n, e, d, p, q, dp, dq, qi) or EC on P-256, P-384,
// P-521 or P-256K (crv, x, y, d).
func PrivateJWK(key crypto.Signer) (JSONWebKey, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if len(k.Primes) != 2 {
			return JSONWebKey{}, errors.New("RSA keys with more than two primes are not supported")
		}
		k.Precompute()
		return JSONWebKey{
			Kty: "RSA", N: b64(k.N.Bytes()), E: b64(big.NewInt(int64(k.E)).Bytes()), D: b64(k.D.Bytes()),
			P: b64(k.Primes[0].Bytes()), Q: b64(k.Primes[1].Bytes()),
			DP: b64(k.Precomputed.Dp.Bytes()), DQ: b64(k.Precomputed.Dq.Bytes()), QI: b64(k.Precomputed.Qinv.Bytes()),
		}, nil
	case *ecdsa.PrivateKey:
		var crv string
		switch k.Curve {
		case elliptic.P256():
			crv = "P-256"
		case elliptic.P384():
			crv = "P-384"
		case elliptic.P521():
			crv = "P-521"
		default:
			return JSONWebKey{}, fmt.Errorf("EC curve %s is not supported: use P-256, P-384, P-521 or P-256K", k.Curve.Params().Name)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		pub, err := k.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			return JSONWebKey{}, fmt.Errorf("EC public key: %w", err)
		}
		priv, err := k.Bytes()
		if err != nil {
			return JSONWebKey{}, fmt.Errorf("EC private key: %w", err)
		}
		return JSONWebKey{Kty: "EC", Crv: crv, X: b64(pub[1 : 1+size]), Y: b64(pub[1+size:]), D: b64(priv)}, nil
	}
	if k, ok := key.(secp256k1Signer); ok {
		pub := k.k.PubKey().SerializeUncompressed() // 0x04 || X || Y
		d := k.k.Key.Bytes()
		return JSONWebKey{Kty: "EC", Crv: "P-256K", X: b64(pub[1:33]), Y: b64(pub[33:]), D: b64(d[:])}, nil
	}
	return JSONWebKey{}, fmt.Errorf("private key type %T is not supported: use an RSA or EC key", key)
}

// secp256k1Signer is a P-256K private key read from PEM, as a crypto.Signer
// (decred's implementation: RFC 6979 nonces, constant-time arithmetic).
type secp256k1Signer struct{ k *secp256k1.PrivateKey }

func (s secp256k1Signer) Public() crypto.PublicKey { return s.k.PubKey() }

// Sign returns the DER ECDSA signature of digest.
func (s secp256k1Signer) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	return k256ecdsa.Sign(s.k, digest).Serialize(), nil
}
