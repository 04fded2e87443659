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
// unreachable to whoever connects through it. restore listens again on the
// same address.
type tcpProxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{target: target, addr: ln.Addr().String()}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
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
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *tcpProxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// proxiedDatabaseURL returns a fresh test database's URL and a proxy
// standing between it and the server.
func proxiedDatabaseURL(t *testing.T) (string, string, *tcpProxy) {
	t.Helper()
	dbURL := pgtest.NewDatabaseURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startTCPProxy(t, u.Host)
	u.Host = proxy.addr
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
