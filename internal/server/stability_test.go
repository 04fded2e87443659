package server

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
	"github.com/portcullis/portcullis/internal/tcpproxy"
)

// proxiedDatabaseURL returns a fresh test database's URL and a proxy
// standing between it and the server.
func proxiedDatabaseURL(t *testing.T) (string, string, *tcpproxy.Proxy) {
	t.Helper()
	dbURL := pgtest.NewDatabaseURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := tcpproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	return dbURL, u.String(), proxy
}

// TestServe_KeepsIssuingTokensWhenTheDatabaseIsUnreachable: tokens come
// from the in-memory snapshot, so losing PostgreSQL stops neither token
// issuance nor verification; /readyz reports the outage.
func TestServe_KeepsIssuingTokensWhenTheDatabaseIsUnreachable(t *testing.T) {
	_, proxied, proxy := proxiedDatabaseURL(t)
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir(), DatabaseURL: proxied, ReloadInterval: 100 * time.Millisecond})
	if _, status, body := r.token(t, r.cred.TenantID, r.cred.ClientID, r.cred.ClientSecret, r.cred.Scope); status != http.StatusOK {
		t.Fatalf("token before the outage: %d %v", status, body)
	}

	proxy.Cut()
	// The cut closed every connection and the listener: the next readiness
	// check cannot reach the database.
	resp, err := r.client.Get(r.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "database unreachable") {
		t.Fatalf("readyz after the database became unreachable: %d %q", resp.StatusCode, b)
	}
	for i := 0; i < 3; i++ {
		tok, status, body := r.token(t, r.cred.TenantID, r.cred.ClientID, r.cred.ClientSecret, r.cred.Scope)
		if status != http.StatusOK {
			t.Fatalf("token during the outage: %d %v", status, body)
		}
		if _, err := r.verifyAdminToken(t, tok); err != nil {
			t.Fatalf("token issued during the outage does not verify: %v", err)
		}
	}
}
