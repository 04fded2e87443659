package sts_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/pki"
)

// discardWriter is a minimal in-process ResponseWriter that keeps the
// status and body.
type discardWriter struct {
	h      http.Header
	status int
	body   []byte
	keep   bool
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.keep {
		w.body = append(w.body, b...)
	}
	return len(b), nil
}

// serveInProcess runs one token request through the handler without a
// network, Host = the env's base host.
func (e *env) serveInProcess(body string, keep bool) *discardWriter {
	host := strings.TrimPrefix(e.base, "https://")
	r, _ := http.NewRequest(http.MethodPost, "https://"+host+"/"+e.tenant.ID+"/oauth2/v2.0/token", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.RemoteAddr = "192.0.2.1:50000"
	w := &discardWriter{h: http.Header{}, keep: keep}
	e.mux.ServeHTTP(w, r)
	return w
}

func (e *env) issueInProcess(t testing.TB) string {
	t.Helper()
	w := e.serveInProcess(e.secretForm(e.secretClient, e.secret).Encode(), true)
	var out struct {
		Token string `json:"access_token"`
	}
	if w.status != http.StatusOK || json.Unmarshal(w.body, &out) != nil {
		t.Fatalf("in-process token: %d %s", w.status, w.body)
	}
	return out.Token
}

func BenchmarkIssueToken_Secret(b *testing.B) {
	e := newEnvNoTLS(b)
	e.base = "https://sts.example"
	body := e.secretForm(e.secretClient, e.secret).Encode()
	e.issueInProcess(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if w := e.serveInProcess(body, false); w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

func BenchmarkIssueToken_CertificateAssertion(b *testing.B) {
	e := newEnvNoTLS(b)
	e.base = "https://sts.example"
	hdr := map[string]any{"x5t#S256": pki.X5TS256(e.rsaCert)}
	// Assertions are single-use (jti), so each iteration needs its own;
	// signing them (as MSAL does, PS256) is the client's cost, not timed.
	bodies := make([]string, b.N)
	for i := range bodies {
		bodies[i] = e.assertionForm(e.certClient.AppID, e.assertion(b, jwt.SigningMethodPS256, clientRSA, hdr, e.certClient.AppID, nil)).Encode()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if w := e.serveInProcess(bodies[i], false); w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// BenchmarkRSA2048Sign is the raw signing rate the token endpoint is
// measured against: RSASSA-PKCS1-v1_5 of a SHA-256 digest.
func BenchmarkRSA2048Sign(b *testing.B) {
	testKeys(b)
	digest := sha256.Sum256([]byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9"))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := rsa.SignPKCS1v15(rand.Reader, clientRSA, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateClient_Secret is the client-authentication phase
// alone (no signature): what a gateway's Basic authenticator pays.
func BenchmarkAuthenticateClient_Secret(b *testing.B) {
	e := newEnvNoTLS(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.srv.CheckClientSecret(ctx, e.tenant.ID, e.secretClient.AppID, e.secret); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKey is the in-process key source's hit path, paid by every
// bearer-authenticated vault and admin request.
func BenchmarkKey(b *testing.B) {
	e := newEnvNoTLS(b)
	e.base = "https://sts.example"
	ctx := context.Background()
	kid := kidOf(b, e.issueInProcess(b))
	iss := e.base + "/" + e.tenant.ID + "/v2.0"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.srv.Key(ctx, iss, kid); err != nil {
			b.Fatal(err)
		}
	}
}
