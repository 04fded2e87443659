package vaultclient

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k256ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/portcullis/portcullis/internal/pki"
)

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		name, header        string
		auth, scope, errSub string
	}{
		{"key vault form", `Bearer authorization="https://login.example/7f1e", resource="https://vault.azure.net"`, "https://login.example/7f1e", "https://vault.azure.net/.default", ""},
		{"scope wins", `Bearer authorization="https://a/t", resource="https://r", scope="api://x/.default"`, "https://a/t", "api://x/.default", ""},
		{"authorization_uri", `Bearer authorization_uri="https://a/t", resource="https://r/"`, "https://a/t", "https://r/.default", ""},
		{"scheme any case, no spaces", `bearer resource="https://r",authorization="https://a/t"`, "https://a/t", "https://r/.default", ""},
		{"unquoted values", `Bearer resource=https://r, authorization=https://a/t`, "https://a/t", "https://r/.default", ""},
		{"after another scheme", `Basic realm="x", Bearer resource="https://r"`, "", "https://r/.default", ""},
		{"before another scheme", `Bearer resource="https://r", PoP nonce="n"`, "", "https://r/.default", ""},
		{"escaped quote", `Bearer resource="https://r\"x"`, "", `https://r"x/.default`, ""},
		{"resource already .default", `Bearer resource="api://v/.default"`, "", "api://v/.default", ""},
		{"no bearer", `Basic realm="x"`, "", "", "no Bearer challenge"},
		{"no resource", `Bearer realm="x", error="invalid_token"`, "", "", "names no resource or scope"},
		{"empty", ``, "", "", "no Bearer challenge"},
		{"unterminated", `Bearer resource="https://r`, "", "", "unterminated"},
		{"too long", "Bearer resource=" + strings.Repeat("x", 9000), "", "", "too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := ParseChallenge(tc.header)
			if tc.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("err %v, want %q", err, tc.errSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ch.Authorization != tc.auth || ch.TokenScope() != tc.scope {
				t.Errorf("got %+v scope %q", ch, ch.TokenScope())
			}
		})
	}
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(`Bearer authorization="https://login.example/7f1e", resource="https://vault.azure.net"`)
	f.Add(`Basic realm="x", Bearer scope="api://x/.default"`)
	f.Add(`Bearer resource="https://r\"x`)
	f.Add(`Bearer abc==, resource=x`)
	f.Add(`,,, = "`)
	f.Fuzz(func(t *testing.T, h string) {
		ch, err := ParseChallenge(h)
		if err == nil && ch.TokenScope() == "" {
			t.Fatalf("accepted %q without a scope", h)
		}
	})
}

func TestParseID(t *testing.T) {
	tests := []struct {
		id, coll, name, version string
		ok                      bool
	}{
		{"https://default.vault.example:8443/secrets/db/0123456789abcdef0123456789abcdef", "secrets", "db", "0123456789abcdef0123456789abcdef", true},
		{"https://default.vault.example/secrets/db", "secrets", "db", "", true},
		{"https://h/vaults/default/certificates/gw/abc", "certificates", "gw", "abc", true},
		{"https://h/vaults/default/keys/k", "keys", "k", "", true},
		{"https://h/deletedsecrets/db", "deletedsecrets", "db", "", true},
		{"https://h/vaults/secrets/keys/k", "keys", "k", "", true},
		{"https://h/other/x", "", "", "", false},
		{"::", "", "", "", false},
		{"https://h/secrets/", "", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			coll, name, version, ok := ParseID(tc.id)
			if coll != tc.coll || name != tc.name || version != tc.version || ok != tc.ok {
				t.Errorf("got %q %q %q %v", coll, name, version, ok)
			}
		})
	}
}

func FuzzParseID(f *testing.F) {
	f.Add("https://default.vault.example:8443/secrets/db/0123456789abcdef0123456789abcdef")
	f.Add("https://h/vaults/default/keys/k")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, id string) {
		_, name, _, ok := ParseID(id)
		if ok && name == "" {
			t.Fatalf("ok without a name for %q", id)
		}
	})
}

func unb64(t *testing.T, s string) *big.Int {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("member %q is not unpadded base64url: %v", s, err)
	}
	return new(big.Int).SetBytes(b)
}

func TestPrivateJWK_FromPEMRoundTrips(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k crypto.Signer) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	tests := []struct {
		name string
		pem  []byte
		rsa  bool
	}{
		{"RSA PKCS#8", pkcs8(rsaKey), true},
		{"RSA PKCS#1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), true},
		{"RSA PKCS#1 in a PRIVATE KEY block", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), true},
		{"EC SEC1 after a certificate block", append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})...), false},
		{"EC PKCS#8", pkcs8(ecKey), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePrivateKeyPEM(tc.pem)
			if err != nil {
				t.Fatal(err)
			}
			j, err := PrivateJWK(k)
			if err != nil {
				t.Fatal(err)
			}
			if tc.rsa {
				if j.Kty != "RSA" || unb64(t, j.N).Cmp(rsaKey.N) != 0 || unb64(t, j.D).Cmp(rsaKey.D) != 0 || unb64(t, j.E).Int64() != 65537 ||
					unb64(t, j.P).Cmp(rsaKey.Primes[0]) != 0 || unb64(t, j.QI).Cmp(rsaKey.Precomputed.Qinv) != 0 {
					t.Errorf("RSA JWK does not match the key: %+v", j)
				}
				return
			}
			pub, _ := ecKey.PublicKey.Bytes()
			if j.Kty != "EC" || j.Crv != "P-384" || unb64(t, j.X).Cmp(new(big.Int).SetBytes(pub[1:49])) != 0 || unb64(t, j.Y).Cmp(new(big.Int).SetBytes(pub[49:])) != 0 || len(j.D) != 64 {
				t.Errorf("EC JWK does not match the key: %+v", j)
			}
		})
	}
}

// P-256K (secp256k1), which the standard library cannot parse, in the two
// encodings OpenSSL writes: PKCS#8 and SEC1 with the curve named.
func TestPrivateJWK_Secp256k1FromPEM(t *testing.T) {
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	pkcs8DER, err := pki.MarshalSecp256k1PKCS8(k)
	if err != nil {
		t.Fatal(err)
	}
	// SEC1 is the ECPrivateKey inside the PKCS#8 structure, with the curve
	// named: rebuild it as OpenSSL's "openssl ec" writes it.
	sec1 := func() []byte {
		d := k.Key.Bytes()
		pub := k.PubKey().SerializeUncompressed()
		der, err := asn1.Marshal(struct {
			Version    int
			PrivateKey []byte
			Parameters asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
			PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
		}{1, d[:], asn1.ObjectIdentifier{1, 3, 132, 0, 10}, asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)}})
		if err != nil {
			t.Fatal(err)
		}
		return der
	}()
	pub := k.PubKey().SerializeUncompressed()
	d := k.Key.Bytes()
	for _, tc := range []struct {
		name string
		pem  []byte
	}{
		{"PKCS#8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8DER})},
		{"SEC1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParsePrivateKeyPEM(tc.pem)
			if err != nil {
				t.Fatal(err)
			}
			j, err := PrivateJWK(s)
			if err != nil {
				t.Fatal(err)
			}
			if j.Kty != "EC" || j.Crv != "P-256K" || j.X != b64(pub[1:33]) || j.Y != b64(pub[33:]) || j.D != b64(d[:]) {
				t.Errorf("JWK does not match the key: %+v", j)
			}
			// The signer is real: its signature verifies with the public key.
			digest := make([]byte, 32)
			sig, err := s.Sign(rand.Reader, digest, crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := k256ecdsa.ParseDERSignature(sig)
			if err != nil || !parsed.Verify(digest, k.PubKey()) {
				t.Errorf("signature does not verify: %v", err)
			}
		})
	}
}

func TestParseError_StripsTerminalControls(t *testing.T) {
	for _, tc := range []struct {
		name, body, code, msg string
	}{
		{"C0 escape", `{"error":{"code":"Forbidden","message":"no \u001b[31mway"}}`, "Forbidden", "no [31mway"},
		{"C1 CSI and DEL", `{"error":{"code":"Forbid\u007fden","message":"no \u009b31mway"}}`, "Forbidden", "no 31mway"},
		{"bidi override", `{"error":{"code":"Forbidden","message":"abc\u202edef"}}`, "Forbidden", "abcdef"},
		{"line feed kept", `{"error":{"code":"Forbidden","message":"one\ntwo"}}`, "Forbidden", "one\ntwo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := parseError(403, []byte(tc.body), "the vault")
			if e.Code != tc.code || e.Message != tc.msg {
				t.Errorf("parseError = code %q message %q, want %q %q", e.Code, e.Message, tc.code, tc.msg)
			}
		})
	}
}

func TestPrivateJWK_UnsupportedCurveNamesTheSupportedOnes(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PrivateJWK(k); err == nil || !strings.Contains(err.Error(), "P-256, P-384, P-521 or P-256K") {
		t.Errorf("PrivateJWK(P-224) error = %v, want one naming P-256, P-384, P-521 and P-256K", err)
	}
}

func TestParsePrivateKeyPEM_Errors(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(k)
	one := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"not PEM", []byte("hello"), "no PEM data"},
		{"only a certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), "no private key block"},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "encrypted"},
		{"corrupt", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1, 2}}), "RSA PRIVATE KEY block"},
		{"two keys", append(append([]byte{}, one...), one...), "more than one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParsePrivateKeyPEM(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzParsePrivateKeyPEM(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(k)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParsePrivateKeyPEM(data)
		if err != nil {
			return
		}
		if _, err := PrivateJWK(key); err != nil && !strings.Contains(err.Error(), "not supported") {
			t.Fatalf("parsed key has no JWK: %v", err)
		}
	})
}
