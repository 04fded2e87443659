package pki

import (
	"encoding/asn1"
	"errors"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// PKCS#8 (RFC 5208) with an ECPrivateKey (RFC 5915) for secp256k1 (Key
// Vault's P-256K), the encoding OpenSSL writes ("openssl genpkey -algorithm
// EC -pkeyopt ec_paramgen_curve:secp256k1"). The standard library knows no
// secp256k1, so the vault (which stores keys as PKCS#8) and the CLI (which
// imports PEM files) share this codec.
var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
)

type pkcs8 struct {
	Version    int
	Algorithm  pkcs8Algorithm
	PrivateKey []byte
}

type pkcs8Algorithm struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.ObjectIdentifier
}

type ecPrivateKey struct {
	Version    int
	PrivateKey []byte
	Parameters asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

// ErrNotSecp256k1 says a PKCS#8 or SEC1 key is not a secp256k1 key.
var ErrNotSecp256k1 = errors.New("not a secp256k1 private key")

// MarshalSecp256k1PKCS8 encodes k as PKCS#8.
func MarshalSecp256k1PKCS8(k *secp256k1.PrivateKey) ([]byte, error) {
	d := k.Key.Bytes()
	defer clear(d[:])
	pub := k.PubKey().SerializeUncompressed()
	inner, err := asn1.Marshal(ecPrivateKey{Version: 1, PrivateKey: d[:], PublicKey: asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)}})
	if err != nil {
		return nil, err
	}
	defer clear(inner)
	return asn1.Marshal(pkcs8{Algorithm: pkcs8Algorithm{Algorithm: oidECPublicKey, Parameters: oidSecp256k1}, PrivateKey: inner})
}

// ParseSecp256k1PrivateKey decodes a PKCS#8 or SEC1 (RFC 5915, with the
// curve named) secp256k1 private key; ErrNotSecp256k1 when der is another
// key.
func ParseSecp256k1PrivateKey(der []byte) (*secp256k1.PrivateKey, error) {
	ecDER, sec1 := der, true
	var p pkcs8
	if rest, err := asn1.Unmarshal(der, &p); err == nil && len(rest) == 0 {
		if !p.Algorithm.Algorithm.Equal(oidECPublicKey) || !p.Algorithm.Parameters.Equal(oidSecp256k1) || p.Version != 0 {
			return nil, ErrNotSecp256k1
		}
		ecDER, sec1 = p.PrivateKey, false
	}
	var ec ecPrivateKey
	if rest, err := asn1.Unmarshal(ecDER, &ec); err != nil || len(rest) != 0 || ec.Version != 1 {
		return nil, ErrNotSecp256k1
	}
	if sec1 && !ec.Parameters.Equal(oidSecp256k1) {
		return nil, ErrNotSecp256k1
	}
	if len(ec.Parameters) > 0 && !ec.Parameters.Equal(oidSecp256k1) {
		return nil, ErrNotSecp256k1
	}
	var scalar secp256k1.ModNScalar
	if len(ec.PrivateKey) != 32 || scalar.SetByteSlice(ec.PrivateKey) || scalar.IsZero() {
		return nil, errors.New("the secp256k1 private key is out of range")
	}
	k := secp256k1.NewPrivateKey(&scalar)
	if len(ec.PublicKey.Bytes) > 0 {
		pub, err := secp256k1.ParsePubKey(ec.PublicKey.Bytes)
		if err != nil || !pub.IsEqual(k.PubKey()) {
			return nil, errors.New("the secp256k1 public key does not match the private key")
		}
	}
	return k, nil
}
