package kvapi

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/vault"
)

// isClientError fails the fuzz run unless err is nil or a 4xx vault error:
// malformed input must never become a 500 or a panic.
func isClientError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	e := vault.AsError(err)
	if s := statusOf(e); s < 400 || s > 499 || e.Message == "" {
		t.Fatalf("status %d (%s) for a client mistake: %v", s, e.Code, err)
	}
}

func FuzzParseSecretSet(f *testing.F) {
	f.Add(`{"value":"s3cret","contentType":"text/plain","attributes":{"enabled":true,"nbf":1700000000,"exp":1800000000},"tags":{"a":"b"}}`)
	f.Add(`{"value":""}`)
	f.Add(`{"value":null}`)
	f.Add(`{"attributes":{"exp":-1},"value":"x"}`)
	f.Add(`{"value":"x"} trailing`)
	f.Add(`[1,2]`)
	f.Add(`{"tags":{"k":null},"value":"\u0000"}`)
	f.Fuzz(func(t *testing.T, body string) {
		in, err := parseSecretSet([]byte(body))
		isClientError(t, err)
		if err == nil && in.Value.Len() > vault.MaxSecretValueBytes {
			t.Fatalf("oversized value accepted: %d bytes", in.Value.Len())
		}
	})
}

func FuzzParseSecretUpdate(f *testing.F) {
	f.Add(`{"contentType":"x","attributes":{"enabled":false,"exp":0},"tags":{}}`)
	f.Add(`{"attributes":{"nbf":99999999999999}}`)
	f.Fuzz(func(t *testing.T, body string) {
		_, err := parseSecretUpdate([]byte(body))
		isClientError(t, err)
	})
}

func FuzzParseCertificateImport(f *testing.F) {
	f.Add(`{"value":"MIIB","pwd":"p","policy":{"key_props":{"exportable":true},"secret_props":{"contentType":"application/x-pkcs12"}}}`)
	f.Add(`{"value":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}`)
	f.Add(`{"value":"not base64 !!"}`)
	f.Add(`{"value":"QUJD","policy":{"x509_props":{"sans":{"ipAddresses":["10.0.0.1"]}}}}`)
	f.Add(`{"value":"QUJD","attributes":{"exp":1}}`)
	f.Add(`{"policy":{"lifetime_actions":[{"trigger":{"lifetime_percentage":80},"action":{"action_type":"AutoRenew"}}]}}`)
	f.Fuzz(func(t *testing.T, body string) {
		in, err := parseCertificateImport([]byte(body))
		isClientError(t, err)
		if err == nil && len(in.Data) == 0 {
			t.Fatal("accepted an import without data")
		}
	})
}

func FuzzParseCertificateCreate(f *testing.F) {
	f.Add(`{"policy":{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=a","validity_months":12,"sans":{"dns_names":["a"]}},"key_props":{"kty":"EC","crv":"P-256"}}}`)
	f.Add(`{"policy":null,"tags":{"x":"y"}}`)
	f.Add(`{"policy":{"attributes":{"enabled":false}}}`)
	f.Fuzz(func(t *testing.T, body string) {
		_, err := parseCertificateCreate([]byte(body))
		isClientError(t, err)
		_, _, err = parseCertificateUpdate([]byte(body))
		isClientError(t, err)
		_, err = parsePolicy([]byte(body))
		isClientError(t, err)
	})
}

func FuzzParseKeyRequests(f *testing.F) {
	f.Add("create", `{"kty":"RSA","key_size":2048,"key_ops":["sign","verify"],"attributes":{"enabled":true}}`)
	f.Add("create", `{"kty":"EC","crv":"P-384","public_exponent":3}`)
	f.Add("create", `{"kty":"RSA","release_policy":{"data":"e30"}}`)
	f.Add("import", `{"key":{"kty":"EC","crv":"P-256","d":"AQ","x":"AQ","y":"AQ"},"Hsm":false}`)
	f.Add("import", `{"key":{"kty":"RSA","n":"!!"}}`)
	f.Add("update", `{"key_ops":["verify"],"attributes":{"exp":1900000000}}`)
	f.Add("sign", `{"alg":"RS256","value":"n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg"}`)
	f.Add("verify", `{"alg":"ES256","digest":"AQID","value":"AQID"}`)
	f.Add("encrypt", `{"alg":"A256GCM","value":"AQ","iv":"AQ"}`)
	f.Add("decrypt", `{"alg":"RSA-OAEP","value":"AQ=="}`)
	f.Add("decrypt", `{"alg":"A128GCM","value":"AQ","iv":"AAAAAAAAAAAAAAAA","tag":"AAAAAAAAAAAAAAAAAAAAAA","aad":"AQ"}`)
	f.Add("create", `{"kty":"oct-HSM","key_size":256}`)
	f.Add("rotationpolicy", `{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P90D"},"action":{"type":"Rotate"}},{"trigger":{"timeBeforeExpiry":"P30D"},"action":{"type":"notify"}}],"attributes":{"expiryTime":"P2Y"}}`)
	f.Add("rotationpolicy", `{"id":"x","lifetimeActions":[{"trigger":{"timeAfterCreate":"PT1H","timeBeforeExpiry":"P1Y2M3W4DT5H6M7S"},"action":{}}],"attributes":{"expiryTime":"P99999999Y","created":1}}`)
	f.Add("rotationpolicy", `{"lifetimeActions":[{}]}`)
	f.Fuzz(func(t *testing.T, op, body string) {
		b := []byte(body)
		var err error
		switch op {
		case "create":
			_, err = parseKeyCreate(b)
		case "import":
			_, err = parseKeyImport(b)
		case "update":
			_, err = parseKeyUpdate(b)
		case "rotationpolicy":
			var p vault.KeyRotationPolicy
			if p, err = parseKeyRotationPolicy(b); err == nil {
				_, err = p.Normalize()
			}
		default:
			var in keyOperation
			in, err = parseKeyOperation(op, b)
			if err == nil && (in.Alg == "" || in.Value == nil) {
				t.Fatalf("accepted an operation without alg or value: %+v", in)
			}
		}
		isClientError(t, err)
	})
}

func fuzzSealer(f *testing.F) *seal.Sealer {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		f.Fatal(err)
	}
	rk, err := seal.ParseRootKey(base64.StdEncoding.EncodeToString(b))
	if err != nil {
		f.Fatal(err)
	}
	return seal.NewSealer(rk)
}

func FuzzSkipToken(f *testing.F) {
	s := fuzzSealer(f)
	good, err := sealSkipToken(s, "default", "secrets", "db-password")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "secrets")
	f.Add(good, "deletedsecrets")
	f.Add(good[:len(good)-1], "secrets")
	f.Add("", "secrets")
	f.Add("!!!", "keys")
	f.Add(strings.Repeat("A", 4000), "secrets")
	f.Fuzz(func(t *testing.T, token, listing string) {
		cursor, err := openSkipToken(s, "default", listing, token)
		isClientError(t, err)
		if err == nil && (token != good || listing != "secrets" || cursor != "db-password") {
			t.Fatalf("accepted a token not issued for this listing: %q for %q", token, listing)
		}
	})
}

func FuzzRequestTarget(f *testing.F) {
	s := fuzzSealer(f)
	h := &Handler{cfg: Config{Sealer: s}, baseHosts: map[string]bool{"localhost:8443": true}, nameHost: "localhost:8443"}
	f.Add("localhost:8443", "/vaults/default/secrets/a/b")
	f.Add("default.localhost:8443", "/keys/k//sign")
	f.Add("127.0.0.1:8443", "/vaults/%zz/secrets")
	f.Add("x.y.localhost:8443", "/")
	f.Fuzz(func(t *testing.T, host, path string) {
		r := httptest.NewRequest(http.MethodGet, "https://localhost:8443/", nil)
		r.Host = host
		r.URL.Path, r.URL.RawPath = path, ""
		tg, ok := h.match(r)
		if ok && (tg.link == "" || tg.id == "" || tg.resource == "") {
			t.Fatalf("incomplete target %+v", tg)
		}
		for _, s := range tg.segs {
			if strings.Contains(s, "/") {
				t.Fatalf("segment %q of %q contains a slash", s, path)
			}
		}
	})
}

func TestAPIVersion(t *testing.T) {
	tests := []struct {
		v  string
		ok bool
	}{
		{"7.0", true}, {"7.4", true}, {"7.6-preview", true}, {"2025-07-01", true}, {"2026-04-01", true},
		{"7.4-preview.1", true}, {"7.5-preview.1", true}, {"7.6-preview.2", true}, {"2025-07-01-preview", true}, {"7.3-preview.10", true},
		{"", false}, {"6.0", false}, {"7", false}, {"7.x", false}, {"2016-10-01", false}, {"latest", false},
		{"7.4-preview.", false}, {"7.4-preview.x", false}, {"7.4-preview.123", false}, {"7.4-previewx", false}, {"6.0-preview.1", false},
		{"-preview.1", false}, {"7.4-preview-preview", false},
	}
	for _, tc := range tests {
		t.Run(tc.v, func(t *testing.T) {
			q := map[string][]string{}
			if tc.v != "" {
				q["api-version"] = []string{tc.v}
			}
			_, err := apiVersion(q)
			if (err == nil) != tc.ok {
				t.Fatalf("apiVersion(%q) = %v", tc.v, err)
			}
		})
	}
}

func FuzzParseRestore(f *testing.F) {
	f.Add(`{"value":"UENWQgFz"}`)
	f.Add(`{"value":"UENWQgFz=="}`)
	f.Add(`{"value":""}`)
	f.Add(`{"value":"!!"}`)
	f.Add(`{"value":null}`)
	f.Add(`{"value":1}`)
	f.Fuzz(func(t *testing.T, body string) {
		blob, err := parseRestore([]byte(body))
		isClientError(t, err)
		if err == nil && len(blob) == 0 {
			t.Fatal("an empty blob was accepted")
		}
	})
}

func FuzzParseRandomBytes(f *testing.F) {
	for _, s := range []string{`{"count":32}`, `{"count":0}`, `{"count":129}`, `{"count":-5}`, `{"count":1.5}`, `{"count":"8"}`, `{}`, `{"count":99999999999999999999}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		n, err := parseRandomBytes([]byte(body))
		isClientError(t, err)
		if err == nil && (n < 1 || n > vault.MaxRandomBytes) {
			t.Fatalf("count %d accepted", n)
		}
	})
}
