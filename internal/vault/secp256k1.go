package vault

import (
	"crypto"
	"errors"
	"io"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k256ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/portcullis/portcullis/internal/pki"
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

// marshalSecp256k1PKCS8 encodes k as PKCS#8 (the codec is pki's).
func marshalSecp256k1PKCS8(k secp256k1Key) ([]byte, error) { return pki.MarshalSecp256k1PKCS8(k.k) }

// parseSecp256k1PKCS8 decodes a PKCS#8 or SEC1 secp256k1 private key;
// pki.ErrNotSecp256k1 when der is another key.
func parseSecp256k1PKCS8(der []byte) (secp256k1Key, error) {
	k, err := pki.ParseSecp256k1PrivateKey(der)
	if err != nil {
		return secp256k1Key{}, err
	}
	return secp256k1Key{k: k}, nil
}
