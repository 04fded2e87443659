package vault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/portcullis/portcullis/internal/pki"
)

// Symmetric key types (Managed HSM's kty for AES keys). Portcullis keeps no
// HSM: an oct-HSM key is protected by the root key like every other key,
// and answers with the kty it was created with so that code written for
// Managed HSM keeps working.
const (
	KeyTypeOct    = "oct"
	KeyTypeOctHSM = "oct-HSM"
)

// keyMaterial is the private part of a key version: an RSA or EC key, or
// the bytes of an AES key (oct). It never leaves the service.
type keyMaterial struct {
	signer crypto.Signer
	secret []byte
	// octKty is KeyTypeOct or KeyTypeOctHSM for a secret.
	octKty string
}

func (m keyMaterial) clear() { clear(m.secret) }

// isOct reports whether kty names a symmetric key type.
func isOct(kty string) bool {
	return strings.EqualFold(kty, KeyTypeOct) || strings.EqualFold(kty, KeyTypeOctHSM)
}

// canonicalOct returns the canonical spelling of an oct kty.
func canonicalOct(kty string) string {
	if strings.EqualFold(kty, KeyTypeOctHSM) {
		return KeyTypeOctHSM
	}
	return KeyTypeOct
}

// checkOctSize refuses AES key sizes other than 128, 192 and 256 bits.
func checkOctSize(bits int) error {
	switch bits {
	case 128, 192, 256:
		return nil
	}
	return badRequest("key_size %d is not supported for oct keys: use 128, 192 or 256 (AES)", bits)
}

// newOctKey generates an AES key of bits bits.
func newOctKey(kty string, bits int) (keyMaterial, error) {
	if err := checkOctSize(bits); err != nil {
		return keyMaterial{}, err
	}
	b := make([]byte, bits/8)
	if _, err := rand.Read(b); err != nil {
		return keyMaterial{}, internal(err, "generate AES key")
	}
	return keyMaterial{secret: b, octKty: canonicalOct(kty)}, nil
}

// validate refuses material Portcullis does not hold.
func (m keyMaterial) validate() error {
	if m.signer == nil {
		return checkOctSize(len(m.secret) * 8)
	}
	_, _, _, err := supportedKeyOrP521(m.signer)
	return err
}

// supportedKeyOrP521 accepts what certificates accept and, for keys, EC
// P-521 and P-256K.
func supportedKeyOrP521(key crypto.Signer) (string, int, string, error) {
	if k, ok := key.(*ecdsa.PrivateKey); ok && k.Curve == elliptic.P521() {
		return "EC", 521, "P-521", nil
	}
	if _, ok := key.(secp256k1Key); ok {
		return "EC", 256, CurveP256K, nil
	}
	return supportedKey(key)
}

// publicJWK is the key's public JWK (an oct key has no public member).
func (m keyMaterial) publicJWK() (JSONWebKey, error) {
	if m.signer == nil {
		return JSONWebKey{Kty: m.octKty}, nil
	}
	return publicJWK(m.signer.Public(), nil)
}

// encode returns the bytes to seal: PKCS#8 DER, or the AES key itself.
func (m keyMaterial) encode() ([]byte, error) {
	if m.signer == nil {
		return append([]byte(nil), m.secret...), nil
	}
	if k, ok := m.signer.(secp256k1Key); ok {
		der, err := marshalSecp256k1PKCS8(k)
		if err != nil {
			return nil, internal(err, "encode private key")
		}
		return der, nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(m.signer)
	if err != nil {
		return nil, internal(err, "encode private key")
	}
	return der, nil
}

// generateKey makes new material of the given type: RSA 2048/3072/4096
// (via the certificate policy's rules), EC P-256/P-384/P-521/P-256K, oct
// 128/192/256.
func generateKey(kty string, size int, curve string) (keyMaterial, error) {
	if isOct(kty) {
		if curve != "" {
			return keyMaterial{}, badRequest("crv applies to EC keys, not oct")
		}
		if size == 0 {
			size = 256
		}
		return newOctKey(kty, size)
	}
	if strings.EqualFold(kty, "EC") {
		if curve == "" {
			curve = "P-256"
		}
		if strings.EqualFold(curve, CurveP256K) || strings.EqualFold(curve, "secp256k1") {
			if size != 0 && size != 256 {
				return keyMaterial{}, badRequest("key_size %d does not match curve P-256K", size)
			}
			k, err := secp256k1.GeneratePrivateKey()
			if err != nil {
				return keyMaterial{}, internal(err, "generate key")
			}
			return keyMaterial{signer: secp256k1Key{k: k}}, nil
		}
		curves := map[string]struct {
			c    elliptic.Curve
			bits int
		}{"P-256": {elliptic.P256(), 256}, "P-384": {elliptic.P384(), 384}, "P-521": {elliptic.P521(), 521}}
		c, ok := curves[strings.ToUpper(curve)]
		if !ok {
			return keyMaterial{}, badRequest("crv %q is not supported: use P-256, P-384, P-521 or P-256K", curve)
		}
		if size != 0 && size != c.bits {
			return keyMaterial{}, badRequest("key_size %d does not match curve %s", size, strings.ToUpper(curve))
		}
		k, err := ecdsa.GenerateKey(c.c, rand.Reader)
		if err != nil {
			return keyMaterial{}, internal(err, "generate key")
		}
		return keyMaterial{signer: k}, nil
	}
	kp := KeyProperties{KeyType: kty, KeySize: size, Curve: curve}
	kt, err := policyKeyType(&kp)
	if err != nil {
		return keyMaterial{}, err
	}
	k, err := pki.GenerateKey(kt)
	if err != nil {
		return keyMaterial{}, internal(err, "generate key")
	}
	return keyMaterial{signer: k}, nil
}

// newKeyMaterialLike generates material of the same type and size or
// curve as an existing key; size is the oct key's bit length.
func newKeyMaterialLike(jwk JSONWebKey, octBits int) (keyMaterial, error) {
	switch {
	case isOct(jwk.Kty):
		return newOctKey(jwk.Kty, octBits)
	case jwk.Kty == "RSA":
		bits := len(jwk.N) * 8
		return generateKey("RSA", bits, "")
	case jwk.Kty == "EC":
		return generateKey("EC", 0, jwk.Crv)
	}
	return keyMaterial{}, badRequest("key type %q cannot be rotated", jwk.Kty)
}

// openSigner opens the private key of an RSA or EC key version.
func (s *Service) openSigner(k Key, ver ObjectVersion) (crypto.Signer, error) {
	if k.JWK.Crv != CurveP256K {
		return s.openPrivateKey(ver)
	}
	der, err := s.open(ver)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	key, err := parseSecp256k1PKCS8(der)
	if err != nil {
		return nil, internal(err, "parse stored private key of %q", ver.Name)
	}
	return key, nil
}
