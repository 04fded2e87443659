package jws

import (
	"crypto"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestInterop_GolangJWT checks that signatures of an independent JOSE
// implementation verify here and ours verify there, for each alg family
// (R||S encoding for ECDSA, PSS salt length, Ed25519).
func TestInterop_GolangJWT(t *testing.T) {
	keys(t)
	tests := []struct {
		alg  string
		priv crypto.Signer
		pub  crypto.PublicKey
	}{
		{"RS256", rsaKey, &rsaKey.PublicKey},
		{"PS256", rsaKey, &rsaKey.PublicKey},
		{"PS512", rsaKey, &rsaKey.PublicKey},
		{"ES256", p256Key, &p256Key.PublicKey},
		{"ES384", p384Key, &p384Key.PublicKey},
		{"ES512", p521Key, &p521Key.PublicKey},
		{"EdDSA", edKey, edKey.Public()},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			m := jwt.GetSigningMethod(tt.alg)
			const in = "eyJhbGciOiJ4In0.eyJzdWIiOiJ4In0"
			theirs, err := m.Sign(in, tt.priv)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifySignature(tt.alg, tt.pub, in, theirs); err != nil {
				t.Errorf("golang-jwt's signature: %v", err)
			}
			ours, err := Sign(tt.alg, tt.priv, in)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Verify(in, ours, tt.pub); err != nil {
				t.Errorf("golang-jwt refuses our signature: %v", err)
			}
		})
	}
}
