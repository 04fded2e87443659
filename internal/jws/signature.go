package jws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256" // crypto.SHA256 for RS256, PS256, ES256
	_ "crypto/sha512" // crypto.SHA384 and SHA512 for the 384/512 variants
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// MinRSABits is the smallest RSA modulus VerifySignature accepts
// (RFC 7518 §3.3: "2048 bits or larger MUST be used").
const MinRSABits = 2048

// rsaAlgorithms maps each RSA alg to its hash and padding (RFC 7518 §3.3, §3.5).
var rsaAlgorithms = map[string]struct {
	hash crypto.Hash
	pss  bool
}{
	"RS256": {crypto.SHA256, false},
	"RS384": {crypto.SHA384, false},
	"RS512": {crypto.SHA512, false},
	"PS256": {crypto.SHA256, true},
	"PS384": {crypto.SHA384, true},
	"PS512": {crypto.SHA512, true},
}

// ecAlgorithms maps each ECDSA alg to its curve, hash and R||S size (RFC 7518 §3.4).
var ecAlgorithms = map[string]struct {
	curve elliptic.Curve
	hash  crypto.Hash
	size  int
}{
	"ES256": {elliptic.P256(), crypto.SHA256, 64},
	"ES384": {elliptic.P384(), crypto.SHA384, 96},
	"ES512": {elliptic.P521(), crypto.SHA512, 132},
}

// Algorithms lists every alg VerifySignature can accept, for discovery
// documents and error messages.
var Algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// AlgorithmsFor returns the algs VerifySignature accepts with pub: the
// RSA ones for an RSA key, the one matching an EC key's curve, EdDSA for
// Ed25519; nil for any other key.
func AlgorithmsFor(pub crypto.PublicKey) []string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return Algorithms[:6]
	case *ecdsa.PublicKey:
		for _, alg := range []string{"ES256", "ES384", "ES512"} {
			if ecAlgorithms[alg].curve == k.Curve {
				return []string{alg}
			}
		}
	case ed25519.PublicKey:
		return []string{"EdDSA"}
	}
	return nil
}

// VerifySignature checks sig over signingInput with pub, if alg suits the
// key type. "none" and HMAC algs are always refused: a public key is not a
// shared secret, and a token without a signature proves nothing.
func VerifySignature(alg string, pub crypto.PublicKey, signingInput string, sig []byte) error {
	if err := refuseNeverAccepted(alg); err != nil {
		return err
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		a, ok := rsaAlgorithms[alg]
		if !ok {
			return fmt.Errorf("alg %s does not suit an RSA key; use one of RS256, RS384, RS512, PS256, PS384, PS512", Clip(alg, 20))
		}
		if k.N == nil || k.N.BitLen() < MinRSABits {
			return fmt.Errorf("the RSA key has %d bits; at least %d are required", bitLen(k.N), MinRSABits)
		}
		digest := hashOf(a.hash, signingInput)
		if a.pss {
			// RFC 7518 §3.5 fixes the salt at the hash size; "auto" also
			// accepts other lengths, as some signers use them.
			if rsa.VerifyPSS(k, a.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) != nil {
				return fmt.Errorf("the %s signature does not verify", alg)
			}
			return nil
		}
		if rsa.VerifyPKCS1v15(k, a.hash, digest, sig) != nil {
			return fmt.Errorf("the %s signature does not verify", alg)
		}
		return nil
	case *ecdsa.PublicKey:
		a, ok := ecAlgorithms[alg]
		if !ok || k.Curve != a.curve {
			return fmt.Errorf("alg %s does not suit an EC key on %s; use ES256 with P-256, ES384 with P-384 or ES512 with P-521", Clip(alg, 20), curveName(k.Curve))
		}
		if len(sig) != a.size {
			return fmt.Errorf("the %s signature is %d bytes; R||S is %d (RFC 7518 section 3.4)", alg, len(sig), a.size)
		}
		r, s := new(big.Int).SetBytes(sig[:a.size/2]), new(big.Int).SetBytes(sig[a.size/2:])
		if !ecdsa.Verify(k, hashOf(a.hash, signingInput), r, s) {
			return fmt.Errorf("the %s signature does not verify", alg)
		}
		return nil
	case ed25519.PublicKey:
		if alg != "EdDSA" {
			return fmt.Errorf("alg %s does not suit an Ed25519 key; use EdDSA", Clip(alg, 20))
		}
		if len(k) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize || !ed25519.Verify(k, []byte(signingInput), sig) {
			return errors.New("the EdDSA signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("a %T key cannot verify JWS signatures; RSA, ECDSA and Ed25519 keys can", pub)
}

// NeverAccepted reports whether alg is "none" in any spelling or an HMAC
// alg (HS*, any case): algs no verifier of this project accepts, whatever
// its configuration.
func NeverAccepted(alg string) bool {
	return strings.EqualFold(alg, "none") || isHMAC(alg)
}

func isHMAC(alg string) bool { return len(alg) >= 2 && strings.EqualFold(alg[:2], "HS") }

// refuseNeverAccepted refuses "none" in any spelling and HMAC algs.
func refuseNeverAccepted(alg string) error {
	switch {
	case strings.EqualFold(alg, "none"):
		return errors.New("alg none is never accepted: the token must be signed")
	case isHMAC(alg):
		return fmt.Errorf("alg %s (HMAC) is never accepted: a public key is not a shared secret", Clip(alg, 20))
	case alg == "":
		return errors.New("the token names no alg")
	}
	return nil
}

// Sign signs signingInput with key under alg, returning the JWS signature
// bytes (R||S for ECDSA). The token service and tests use it.
func Sign(alg string, key crypto.Signer, signingInput string) ([]byte, error) {
	if err := refuseNeverAccepted(alg); err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		a, ok := rsaAlgorithms[alg]
		if !ok {
			return nil, fmt.Errorf("alg %s does not suit an RSA key", alg)
		}
		if a.pss {
			return rsa.SignPSS(rand.Reader, k, a.hash, hashOf(a.hash, signingInput), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.SignPKCS1v15(nil, k, a.hash, hashOf(a.hash, signingInput))
	case *ecdsa.PrivateKey:
		a, ok := ecAlgorithms[alg]
		if !ok || k.Curve != a.curve {
			return nil, fmt.Errorf("alg %s does not suit an EC key on %s", alg, curveName(k.Curve))
		}
		r, s, err := ecdsa.Sign(rand.Reader, k, hashOf(a.hash, signingInput))
		if err != nil {
			return nil, err
		}
		sig := make([]byte, a.size)
		r.FillBytes(sig[:a.size/2])
		s.FillBytes(sig[a.size/2:])
		return sig, nil
	case ed25519.PrivateKey:
		if alg != "EdDSA" {
			return nil, fmt.Errorf("alg %s does not suit an Ed25519 key", alg)
		}
		return ed25519.Sign(k, []byte(signingInput)), nil
	}
	return nil, fmt.Errorf("a %T key cannot sign JWS", key)
}

func hashOf(h crypto.Hash, s string) []byte {
	w := h.New()
	w.Write([]byte(s))
	return w.Sum(nil)
}

func bitLen(n *big.Int) int {
	if n == nil {
		return 0
	}
	return n.BitLen()
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "an unknown curve"
	}
	return c.Params().Name
}
