package server

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
)

// tcpProxy forwards connections to target until cut is called, which closes
// the listener and every forwarded connection: the database becomes
// unreachable to whoever connects through it.
type tcpProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestServe_KeepsIssuingTokensWhenTheDatabaseIsUnreachable: tokens come
// from the in-memory snapshot, so losing PostgreSQL stops neither token
// issuance nor verification; /readyz reports the outage.
func TestServe_KeepsIssuingTokensWhenTheDatabaseIsUnreachable(t *testing.T) {
	dbURL := pgtest.NewDatabaseURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startTCPProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()

	r := startServer(t, Config{Dev: true, DataDir: t.TempDir(), DatabaseURL: u.String(), ReloadInterval: 100 * time.Millisecond})
	if _, status, body := r.token(t, r.cred.TenantID, r.cred.ClientID, r.cred.ClientSecret, r.cred.Scope); status != http.StatusOK {
		t.Fatalf("token before the outage: %d %v", status, body)
	}

	proxy.cut()
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
