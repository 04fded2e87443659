package vault

import (
	"crypto"
	"encoding/asn1"
	"errors"
	"io"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k256ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// CurveP256K is Key Vault's name for secp256k1 (SEC 2 section 2.4.1).
const CurveP256K = "P-256K"

// secp256k1Key is a P-256K private key. The standard library has no
// secp256k1 (its generic curve code is not constant-time), so signing and
// verifying use decred's implementation (RFC 6979 nonces, constant-time
// scalar arithmetic); the key is stored as PKCS#8 like the others.
type secp256k1Key struct {
	k *secp256k1.PrivateKey
}

// Public returns the *secp256k1.PublicKey.
func (s secp256k1Key) Public() crypto.PublicKey { return s.k.PubKey() }

// Sign signs a 32-byte digest and returns R||S (32 bytes each), as JWS
// ES256K and Key Vault carry it.
func (s secp256k1Key) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	if len(digest) != 32 {
		return nil, errors.New("ES256K signs a 32-byte digest")
	}
	sig := k256ecdsa.Sign(s.k, digest)
	r, sv := sig.R(), sig.S()
	out := make([]byte, 64)
	r.PutBytesUnchecked(out[:32])
	sv.PutBytesUnchecked(out[32:])
	return out, nil
}

// verifySecp256k1 checks an R||S signature over digest.
func verifySecp256k1(pub *secp256k1.PublicKey, digest, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) || r.IsZero() || s.IsZero() {
		return false
	}
	return k256ecdsa.NewSignature(&r, &s).Verify(digest, pub)
}

// secp256k1JWK is the public JWK of a P-256K key.
func secp256k1JWK(pub *secp256k1.PublicKey, ops []string) JSONWebKey {
	pt := pub.SerializeUncompressed() // 0x04 || X || Y
	return JSONWebKey{Kty: "EC", KeyOps: ops, Crv: CurveP256K, X: pt[1:33], Y: pt[33:]}
}

// secp256k1FromJWK builds a P-256K private key from d, checking that d is
// in [1, N-1] and matches x and y.
func secp256k1FromJWK(d, x, y []byte) (secp256k1Key, error) {
	if len(d) == 0 || len(d) > 32 || len(x) > 32 || len(y) > 32 {
		return secp256k1Key{}, badRequest("the EC JWK must carry d, x and y of 32 bytes at most to be imported")
	}
	var scalar secp256k1.ModNScalar
	if scalar.SetByteSlice(d) || scalar.IsZero() {
		return secp256k1Key{}, badRequest("the EC JWK is not a valid key: d is not in [1, n-1] for P-256K")
	}
	k := secp256k1Key{k: secp256k1.NewPrivateKey(&scalar)}
	want := secp256k1JWK(k.k.PubKey(), nil)
	if !sameUnsigned(x, want.X) || !sameUnsigned(y, want.Y) {
		return secp256k1Key{}, badRequest("the EC JWK's x and y do not match its private key d")
	}
	return k, nil
}

// sameUnsigned compares two big-endian unsigned numbers, ignoring leading zeros.
func sameUnsigned(a, b []byte) bool {
	for len(a) > 0 && a[0] == 0 {
		a = a[1:]
	}
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return string(a) == string(b)
}

// PKCS#8 (RFC 5208) with an ECPrivateKey (RFC 5915) for secp256k1, the
// encoding OpenSSL writes ("openssl genpkey -algorithm EC -pkeyopt
// ec_paramgen_curve:secp256k1").
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

// marshalSecp256k1PKCS8 encodes k as PKCS#8.
func marshalSecp256k1PKCS8(k secp256k1Key) ([]byte, error) {
	d := k.k.Key.Bytes()
	defer clear(d[:])
	pub := k.k.PubKey().SerializeUncompressed()
	inner, err := asn1.Marshal(ecPrivateKey{Version: 1, PrivateKey: d[:], PublicKey: asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)}})
	if err != nil {
		return nil, err
	}
	defer clear(inner)
	return asn1.Marshal(pkcs8{Algorithm: pkcs8Algorithm{Algorithm: oidECPublicKey, Parameters: oidSecp256k1}, PrivateKey: inner})
}

// errNotSecp256k1 says a PKCS#8 or SEC1 key is not a secp256k1 key.
var errNotSecp256k1 = errors.New("not a secp256k1 private key")

// parseSecp256k1PKCS8 decodes a PKCS#8 or SEC1 (RFC 5915, with the curve
// named) secp256k1 private key; errNotSecp256k1 when der is another key.
func parseSecp256k1PKCS8(der []byte) (secp256k1Key, error) {
	ecDER, sec1 := der, true
	var p pkcs8
	if rest, err := asn1.Unmarshal(der, &p); err == nil && len(rest) == 0 {
		if !p.Algorithm.Algorithm.Equal(oidECPublicKey) || !p.Algorithm.Parameters.Equal(oidSecp256k1) || p.Version != 0 {
			return secp256k1Key{}, errNotSecp256k1
		}
		ecDER, sec1 = p.PrivateKey, false
	}
	var ec ecPrivateKey
	if rest, err := asn1.Unmarshal(ecDER, &ec); err != nil || len(rest) != 0 || ec.Version != 1 {
		return secp256k1Key{}, errNotSecp256k1
	}
	if sec1 && !ec.Parameters.Equal(oidSecp256k1) {
		return secp256k1Key{}, errNotSecp256k1
	}
	if len(ec.Parameters) > 0 && !ec.Parameters.Equal(oidSecp256k1) {
		return secp256k1Key{}, errNotSecp256k1
	}
	var scalar secp256k1.ModNScalar
	if len(ec.PrivateKey) != 32 || scalar.SetByteSlice(ec.PrivateKey) || scalar.IsZero() {
		return secp256k1Key{}, errors.New("the secp256k1 private key is out of range")
	}
	k := secp256k1Key{k: secp256k1.NewPrivateKey(&scalar)}
	if len(ec.PublicKey.Bytes) > 0 {
		pub, err := secp256k1.ParsePubKey(ec.PublicKey.Bytes)
		if err != nil || !pub.IsEqual(k.k.PubKey()) {
			return secp256k1Key{}, errors.New("the secp256k1 public key does not match the private key")
		}
	}
	return k, nil
}
