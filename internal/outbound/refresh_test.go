package outbound_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/outbound"
	"github.com/portcullis/portcullis/internal/pki"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tokenServer is a programmable token endpoint over TLS on 127.0.0.1.
type tokenServer struct {
	url      string
	requests atomic.Int64
	mu       sync.Mutex
	status   int
	body     string
}

func (s *tokenServer) answer(status int, body string) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

func startTokenServer(t *testing.T) *tokenServer {
	t.Helper()
	ca := theCA(t)
	leaf, key, err := pki.NewServerCertificate(ca.cert, ca.key, []string{"127.0.0.1"}, time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tokenServer{}
	hs := &http.Server{ErrorLog: quietLog,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.requests.Add(1)
			s.mu.Lock()
			status, body := s.status, s.body
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		})}
	go hs.ServeTLS(ln, "", "")
	t.Cleanup(func() { hs.Close() })
	s.url = "https://" + ln.Addr().String() + "/tenant/oauth2/v2.0/token"
	return s
}

func TestClientCredentials_RefreshedAheadOfExpiryAndKeptThroughFailures(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	v.setSecret(t, "cs", "client-secret-for-refresh")
	ts := startTokenServer(t)
	token := func(tok string) string {
		return `{"token_type":"Bearer","expires_in":3600,"access_token":"` + tok + `"}`
	}
	ts.answer(200, token("tok-1"))
	clock := &fakeClock{t: time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: theCA(t).pool()}}}
	t.Cleanup(hc.CloseIdleConnections)
	cred := compile(t, outbound.CredentialSpec{Type: "bearer", ClientCredentials: &outbound.ClientCredentialsSpec{
		TokenEndpoint: ts.url, ClientID: "client-1", ClientSecret: "vault://keys-kv/secrets/cs", Scope: "api://orders/.default"}},
		nil, outbound.Options{Name: "test", Target: "https://api.test/", Watcher: v.watcher, TokenClient: hc, Now: clock.Now})
	sent := func() string {
		req, _ := http.NewRequest(http.MethodGet, "https://api.test/", nil)
		if err := cred.Apply(req); err != nil {
			return "error: " + err.Error()
		}
		return req.Header.Get("Authorization")
	}
	if got := sent(); got != "Bearer tok-1" {
		t.Fatalf("first token: %q", got)
	}
	if n := ts.requests.Load(); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}

	// 56 minutes later the token is still valid, but within 5 minutes of
	// its expiry: the refresher replaces it in the background.
	ts.answer(200, token("tok-2"))
	clock.Advance(56 * time.Minute)
	waitFor(t, "the background refresh", func() bool { return sent() == "Bearer tok-2" })

	// The authority fails: the current token is kept while it is valid.
	ts.answer(401, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
	before := ts.requests.Load()
	clock.Advance(56 * time.Minute)
	waitFor(t, "a failed refresh", func() bool { return ts.requests.Load() > before })
	if got := sent(); got != "Bearer tok-2" {
		t.Fatalf("after a failed refresh: %q, want the still-valid tok-2", got)
	}

	// Once it has expired, it is never sent; the error says why.
	clock.Advance(5 * time.Minute)
	got := sent()
	if !strings.HasPrefix(got, "error: ") || !strings.Contains(got, "invalid_client") || strings.Contains(got, "tok-2") {
		t.Fatalf("after expiry: %q", got)
	}

	// The authority recovers: a new token is obtained once the backoff ends.
	ts.answer(200, token("tok-3"))
	clock.Advance(2 * time.Minute)
	waitFor(t, "recovery", func() bool { return sent() == "Bearer tok-3" })
}

// gatedTokenServer is a token endpoint on 127.0.0.1 over TLS that answers
// with the configured status and body, or, while held, not until released.
type gatedTokenServer struct {
	url      string
	requests atomic.Int64
	mu       sync.Mutex
	status   int
	body     string
	gate     chan struct{} // nil: answer at once
}

func (s *gatedTokenServer) set(status int, body string, hold bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
	if hold && s.gate == nil {
		s.gate = make(chan struct{})
	}
	if !hold && s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

func startGatedTokenServer(t *testing.T) *gatedTokenServer {
	t.Helper()
	ca := theCA(t)
	leaf, key, err := pki.NewServerCertificate(ca.cert, ca.key, []string{"127.0.0.1"}, time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &gatedTokenServer{status: 200}
	hs := &http.Server{ErrorLog: quietLog,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.requests.Add(1)
			s.mu.Lock()
			gate := s.gate
			s.mu.Unlock()
			if gate != nil {
				select {
				case <-gate:
				case <-r.Context().Done():
					return
				}
			}
			s.mu.Lock()
			status, body := s.status, s.body
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		})}
	go hs.ServeTLS(ln, "", "")
	t.Cleanup(func() { hs.Close() })
	t.Cleanup(func() { s.set(200, "", false) }) // runs first: lets held requests end
	s.url = "https://" + ln.Addr().String() + "/tenant/oauth2/v2.0/token"
	return s
}

// The gateway applies a bearer credential under a context that is already
// done (it never waits for a token); a caller whose deadline has passed is
// in the same place. Neither may be told "context canceled": the error says
// that a token is on its way, or why the last request failed.
func TestClientCredentials_NoTokenYetSaysWhyNotContextCanceled(t *testing.T) {
	t.Parallel()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	const refused = `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`
	for _, c := range []struct {
		name    string
		prepare func(t *testing.T, s *gatedTokenServer, clock *fakeClock, apply func(context.Context) error)
		ctx     context.Context
		want    string
	}{
		{
			name: "first token under way, caller does not wait",
			prepare: func(t *testing.T, s *gatedTokenServer, _ *fakeClock, _ func(context.Context) error) {
				s.set(200, "", true)
			},
			ctx:  done,
			want: "a token is being requested from https://127.0.0.1:",
		},
		{
			name: "first token under way, caller's deadline passed",
			prepare: func(t *testing.T, s *gatedTokenServer, _ *fakeClock, _ func(context.Context) error) {
				s.set(200, "", true)
			},
			ctx:  expired,
			want: "within the call's time limit",
		},
		{
			name: "the last request was refused, the retry is under way",
			prepare: func(t *testing.T, s *gatedTokenServer, clock *fakeClock, apply func(context.Context) error) {
				s.set(401, refused, false)
				waitFor(t, "the refused request", func() bool {
					err := apply(done)
					return err != nil && strings.Contains(err.Error(), "invalid_client")
				})
				s.set(200, "", true)
				before := s.requests.Load()
				clock.Advance(2 * time.Minute) // past the backoff: the refresher retries
				waitFor(t, "the retry to reach the endpoint", func() bool { return s.requests.Load() > before })
			},
			ctx:  done,
			want: "invalid_client",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v := newTestVault(t)
			v.setSecret(t, "cs", "client-secret-for-not-yet")
			s := startGatedTokenServer(t)
			s.set(200, "", true) // hold the first request until prepare decides
			clock := &fakeClock{t: time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)}
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: theCA(t).pool()}}}
			t.Cleanup(hc.CloseIdleConnections)
			cred, err := outbound.Compile(outbound.CredentialSpec{Type: "bearer", ClientCredentials: &outbound.ClientCredentialsSpec{
				TokenEndpoint: s.url, ClientID: "client-1", ClientSecret: "vault://keys-kv/secrets/cs", Scope: "api://orders/.default"}},
				nil, outbound.Options{Name: "api t1/orders", Target: "https://api.test/", Watcher: v.watcher, TokenClient: hc, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cred.Close)
			apply := func(ctx context.Context) error {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.test/", nil)
				return cred.Apply(req)
			}
			waitFor(t, "the first token request", func() bool {
				clock.Advance(time.Second) // past the short wait for the vault's first resolution
				return s.requests.Load() > 0
			})
			c.prepare(t, s, clock, apply)
			err = apply(c.ctx)
			if err == nil {
				t.Fatal("Apply succeeded without a token")
			}
			if msg := err.Error(); !strings.Contains(msg, c.want) || strings.Contains(msg, "context canceled") || strings.Contains(msg, "deadline exceeded") {
				t.Errorf("Apply: %q, want it to contain %q and no context error", msg, c.want)
			}
		})
	}
}
