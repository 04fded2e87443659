package vaultclient

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
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
	if _, err := PrivateJWK(k); err == nil || !strings.Contains(err.Error(), "P-256, P-384 or P-521") {
		t.Errorf("PrivateJWK(P-224) error = %v, want one naming P-256, P-384 and P-521", err)
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
