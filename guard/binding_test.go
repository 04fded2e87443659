package guard

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// x5tS256 is the cnf value that binds a token to c (RFC 8705 §3.1).
func x5tS256(c tls.Certificate) string {
	s := sha256.Sum256(c.Leaf.Raw)
	return b64(s[:])
}

// TestBearer_CertificateBoundTokensOverRealTLS runs two compiled policies
// behind one TLS listener that requests client certificates: /bound
// requires certificate-bound tokens, /plain does not. A bound token works
// only with its certificate on either; an unbound token only on /plain.
func TestBearer_CertificateBoundTokensOverRealTLS(t *testing.T) {
	testKeys(t)
	keys := newFakeKeys()
	keys.set(testIss, "a", &rsaA.PublicKey)
	c := newClock()
	res := &testResolver{issuers: map[string]resolvedIssuer{"contoso": {testIss, keys}}}
	spec := func(bound bool) string {
		b := ""
		if bound {
			b = `,"certificateBound":true`
		}
		return `{"methods":[{"type":"bearer","issuers":[{"tenant":"contoso"}],"audiences":["` + testAud + `"]` + b + `}]}`
	}
	bound := mustCompile(t, spec(true), res, CompileOptions{Now: c.Now})
	plain := mustCompile(t, spec(false), res, CompileOptions{Now: c.Now})

	mux := http.NewServeMux()
	for path, p := range map[string]Policy{"/bound": bound, "/plain": plain} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			ex := p.Explain(r.Clone(r.Context()))
			pr, e := p.Decide(r)
			out := map[string]any{"outcomes": outcomes(ex)}
			if e != nil {
				out["status"], out["error"] = e.Status, e.Error()
			} else {
				out["status"], out["bound"] = 200, pr.BoundCertificate
				out["detail"] = ex.Steps[len(ex.Steps)-1].Detail
			}
			json.NewEncoder(w).Encode(out)
		})
	}
	base, client := serveTLS(t, mux, &tls.Config{ClientAuth: tls.RequestClientCert})

	ca := newTestCA(t, "Clients")
	now := time.Now()
	certA := ca.issue(t, "client-a", now.Add(-time.Hour), now.Add(time.Hour))
	certB := ca.issue(t, "client-b", now.Add(-time.Hour), now.Add(time.Hour))
	clientWith := func(cert *tls.Certificate) *http.Client {
		tr := client.Transport.(*http.Transport).Clone()
		if cert != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	withA, withB, none := clientWith(&certA), clientWith(&certB), clientWith(nil)

	tokBoundA := signJWT(t, rsaA, rs256("a"), with(validClaims(), "cnf", map[string]any{"x5t#S256": x5tS256(certA)}))
	tokUnbound := signJWT(t, rsaA, rs256("a"), with(validClaims(), "uti", "tok-2"))
	tokDPoP := signJWT(t, rsaA, rs256("a"), with(validClaims(), "uti", "tok-3", "cnf", map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}))
	tokEmptyCnf := signJWT(t, rsaA, rs256("a"), with(validClaims(), "uti", "tok-4", "cnf", map[string]any{}))
	tokBadThumb := signJWT(t, rsaA, rs256("a"), with(validClaims(), "uti", "tok-4", "cnf", map[string]any{"x5t#S256": "not-a-thumbprint"}))

	tests := []struct {
		name, path string
		client     *http.Client
		tok        string
		status     int
		want       string // part of the error, or of the admitted step's detail
	}{
		{"bound token with its certificate", "/bound", withA, tokBoundA, 200, "the connection presented that certificate"},
		{"bound token with another certificate", "/bound", withB, tokBoundA, 401, "the connection presented another certificate (x5t#S256 " + x5tS256(certB) + ")"},
		{"bound token without a certificate", "/bound", none, tokBoundA, 401, "the connection presented no client certificate"},
		{"unbound token where binding is required", "/bound", withA, tokUnbound, 401, "this API accepts only certificate-bound access tokens"},
		{"bound token with its certificate, binding not required", "/plain", withA, tokBoundA, 200, "cnf x5t#S256 " + x5tS256(certA)},
		{"bound token with another certificate, binding not required", "/plain", withB, tokBoundA, 401, "presented another certificate"},
		{"bound token without a certificate, binding not required", "/plain", none, tokBoundA, 401, "presented no client certificate"},
		{"unbound token, binding not required", "/plain", withA, tokUnbound, 200, "admitted as"},
		{"cnf that is not x5t#S256", "/plain", withA, tokDPoP, 401, "binds the token with [jkt], which this API cannot check"},
		{"cnf without members", "/plain", withA, tokEmptyCnf, 401, "it has no x5t#S256 member"},
		{"x5t#S256 that is not a thumbprint", "/bound", withA, tokBadThumb, 401, "x5t#S256 is not the base64url (unpadded) SHA-256 thumbprint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, base+tt.path, nil)
			req.Header.Set("Authorization", "Bearer "+tt.tok)
			resp, err := tt.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var got struct {
				Status               int
				Error, Detail, Bound string
				Outcomes             string
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if got.Status != tt.status {
				t.Fatalf("status %d, want %d (%s)", got.Status, tt.status, body)
			}
			text := got.Error + got.Detail
			if !strings.Contains(text, tt.want) {
				t.Errorf("got %q, want it to contain %q", text, tt.want)
			}
			if strings.Contains(text, tt.tok) || strings.Contains(text, tt.tok[strings.LastIndexByte(tt.tok, '.')+1:]) {
				t.Errorf("the answer echoes the token: %s", text)
			}
			if tt.status == 401 && !strings.HasPrefix(got.Error, "invalid_token") {
				t.Errorf("error %q, want invalid_token", got.Error)
			}
		})
	}
}

func TestPolicySpec_CertificateBoundBelongsToBearer(t *testing.T) {
	for _, tt := range []struct{ name, js, want string }{
		{"on a bearer method", `{"methods":[{"type":"bearer","issuers":[{"tenant":"t"}],"audiences":["api://x"],"certificateBound":true}]}`, ""},
		{"on a clientCertificate method", `{"methods":[{"type":"clientCertificate","pins":[{"thumbprint":"` + strings.Repeat("ab", 32) + `"}],"certificateBound":true}]}`,
			"policy.methods[0].certificateBound does not belong to a clientCertificate method"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := mustSpec(t, tt.js).Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzConfirmationClaim decodes untrusted cnf claims: an accepted one
// always holds a 32-byte SHA-256 thumbprint in base64url.
func FuzzConfirmationClaim(f *testing.F) {
	for _, s := range []string{
		`{"cnf":{"x5t#S256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}`,
		`{"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}`,
		`{"cnf":{"x5t#s256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}`,
		`{"cnf":{"x5t#S256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2="}}`,
		`{"cnf":{"x5t#S256":1}}`, `{"cnf":null}`, `{"cnf":[]}`, `{"cnf":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var c claims
		if c.decode(payload) != nil || c.cnf == nil {
			return
		}
		if len(c.cnf.x5tS256) != 43 || strings.ContainsAny(c.cnf.x5tS256, "+/=") {
			t.Fatalf("accepted x5t#S256 %q", c.cnf.x5tS256)
		}
	})
}
