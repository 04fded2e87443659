package identityagent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/oauthclient"
)

const (
	systemID = "0c4d5e6f-1111-2222-3333-444455556666"
	userID   = "7a8b9c0d-1111-2222-3333-444455556666"
)

// clock is an injectable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// fakeSource is a TokenSource answering from a function, counting calls;
// with gate set, each call waits for it to be closed.
type fakeSource struct {
	clock  *clock
	gate   chan struct{}
	called chan struct{} // receives once per call, when non-nil

	mu     sync.Mutex
	calls  int
	fail   error
	scopes []string
}

func (f *fakeSource) Token(ctx context.Context, clientID, scope string) (oauthclient.Token, error) {
	f.mu.Lock()
	f.calls++
	n, fail := f.calls, f.fail
	f.scopes = append(f.scopes, scope)
	f.mu.Unlock()
	if f.called != nil {
		f.called <- struct{}{}
	}
	if f.gate != nil {
		<-f.gate
	}
	if fail != nil {
		return oauthclient.Token{}, fail
	}
	return oauthclient.Token{AccessToken: fmt.Sprintf("token-%d-%s", n, clientID), TokenType: "Bearer", ExpiresAt: f.clock.Now().Add(time.Hour)}, nil
}

func (f *fakeSource) Calls() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }

func (f *fakeSource) SetFail(err error) { f.mu.Lock(); f.fail = err; f.mu.Unlock() }

// waitForFlight waits until no token request of k is in flight.
func waitForFlight(t *testing.T, c *tokenCache, k cacheKey) {
	t.Helper()
	c.mu.Lock()
	var f *flight
	if e := c.entries[k]; e != nil {
		f = e.flight
	}
	c.mu.Unlock()
	if f == nil {
		return
	}
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the token request did not finish")
	}
}

func TestRefreshTime(t *testing.T) {
	now := newClock().Now()
	for _, tc := range []struct {
		lifetime, want time.Duration
	}{
		{time.Hour, 55 * time.Minute},
		{24 * time.Hour, 24*time.Hour - 5*time.Minute},
		{4 * time.Minute, 2 * time.Minute},
		{0, 0},
	} {
		if got := refreshTime(now, now.Add(tc.lifetime)).Sub(now); got != tc.want {
			t.Errorf("lifetime %v: refresh after %v, want %v", tc.lifetime, got, tc.want)
		}
	}
}

func TestCache_ServesTheCachedTokenUntilRefreshThenRenewsAhead(t *testing.T) {
	clk := newClock()
	src := &fakeSource{clock: clk}
	c := newTokenCache(context.Background(), src, clk.Now)
	ctx := context.Background()
	k := cacheKey{systemID, "api://orders"}

	first, err := c.Get(ctx, systemID, "api://orders")
	if err != nil || first.AccessToken != "token-1-"+systemID {
		t.Fatalf("first: %v %v", first, err)
	}
	clk.Advance(50 * time.Minute)
	if tok, _ := c.Get(ctx, systemID, "api://orders"); tok.AccessToken != first.AccessToken || src.Calls() != 1 {
		t.Fatalf("before refresh time: %s after %d calls, want the cached token and 1 call", tok.AccessToken, src.Calls())
	}
	if src.scopes[0] != "api://orders/.default" {
		t.Errorf("scope %q, want api://orders/.default", src.scopes[0])
	}
	// 56 minutes: inside the refresh window; the caller gets the still
	// valid token at once and a refresh starts.
	clk.Advance(6 * time.Minute)
	if tok, _ := c.Get(ctx, systemID, "api://orders"); tok.AccessToken != first.AccessToken {
		t.Fatalf("in the refresh window: %s, want the cached token while the refresh runs", tok.AccessToken)
	}
	waitForFlight(t, c, k)
	if tok, _ := c.Get(ctx, systemID, "api://orders"); tok.AccessToken != "token-2-"+systemID || src.Calls() != 2 {
		t.Fatalf("after the refresh: %s after %d calls", tok.AccessToken, src.Calls())
	}
	// Another resource or identity is another token.
	if tok, _ := c.Get(ctx, userID, "api://orders"); tok.AccessToken != "token-3-"+userID {
		t.Errorf("other identity: %s", tok.AccessToken)
	}
}

func TestCache_OneTokenRequestInFlightPerKey(t *testing.T) {
	clk := newClock()
	src := &fakeSource{clock: clk, gate: make(chan struct{}), called: make(chan struct{}, 100)}
	c := newTokenCache(context.Background(), src, clk.Now)
	const n = 20
	var wg sync.WaitGroup
	tokens := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := c.Get(context.Background(), systemID, "api://orders")
			tokens[i], errs[i] = tok.AccessToken, err
		}()
	}
	<-src.called
	close(src.gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || tokens[i] != "token-1-"+systemID {
			t.Errorf("caller %d: %q %v", i, tokens[i], errs[i])
		}
	}
	if src.Calls() != 1 {
		t.Errorf("%d token requests for %d concurrent callers, want 1", src.Calls(), n)
	}
}

func TestCache_FailedRefreshKeepsAValidTokenButNeverAnExpiringOne(t *testing.T) {
	clk := newClock()
	src := &fakeSource{clock: clk}
	c := newTokenCache(context.Background(), src, clk.Now)
	ctx := context.Background()
	k := cacheKey{systemID, "r"}
	first, err := c.Get(ctx, systemID, "r")
	if err != nil {
		t.Fatal(err)
	}
	refused := &oauthclient.Error{StatusCode: 400, Code: "invalid_resource"}
	src.SetFail(refused)
	clk.Advance(56 * time.Minute)
	if tok, err := c.Get(ctx, systemID, "r"); err != nil || tok.AccessToken != first.AccessToken {
		t.Fatalf("refresh window with the token service failing: %v %v, want the cached token", tok, err)
	}
	waitForFlight(t, c, k)
	// Within retryAfterFailure the failed refresh is not repeated.
	clk.Advance(5 * time.Second)
	if tok, err := c.Get(ctx, systemID, "r"); err != nil || tok.AccessToken != first.AccessToken || src.Calls() != 2 {
		t.Fatalf("just after a failed refresh: %v %v after %d calls, want the cached token and no new request", tok, err, src.Calls())
	}
	clk.Advance(10 * time.Second)
	if tok, _ := c.Get(ctx, systemID, "r"); tok.AccessToken != first.AccessToken {
		t.Fatalf("retry while usable: %v", tok)
	}
	waitForFlight(t, c, k)
	if src.Calls() != 3 {
		t.Fatalf("%d calls, want a retry after %v", src.Calls(), retryAfterFailure)
	}
	clk.Advance(3*time.Minute + 15*time.Second) // 30 s left: too little to hand out
	if _, err := c.Get(ctx, systemID, "r"); !errors.Is(err, refused) {
		t.Fatalf("expiring token and failing token service: %v, want the refusal", err)
	}
	// Errors are not cached: the next call asks again and succeeds.
	src.SetFail(nil)
	if tok, err := c.Get(ctx, systemID, "r"); err != nil || tok.AccessToken == first.AccessToken {
		t.Fatalf("after recovery: %v %v", tok, err)
	}
}

func TestCache_CallerGivingUpDoesNotCancelTheRequestOthersWaitFor(t *testing.T) {
	clk := newClock()
	src := &fakeSource{clock: clk, gate: make(chan struct{}), called: make(chan struct{}, 10)}
	c := newTokenCache(context.Background(), src, clk.Now)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Get(ctx, systemID, "r"); done <- err }()
	<-src.called
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(src.gate)
	waitForFlight(t, c, cacheKey{systemID, "r"})
	if tok, err := c.Get(context.Background(), systemID, "r"); err != nil || tok.AccessToken != "token-1-"+systemID || src.Calls() != 1 {
		t.Fatalf("next caller: %v %v after %d calls, want the token the first request obtained", tok, err, src.Calls())
	}
}

// newTestAgent returns an agent with a system-assigned and a user-assigned
// identity, the header value "h", and its log.
func newTestAgent(t *testing.T, src TokenSource, clk *clock) (*Agent, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	a, err := New(Config{
		Identities: Identities{SystemAssigned: &Identity{ClientID: systemID}, UserAssigned: []Identity{{ClientID: userID, Name: "reports"}}},
		Tokens:     src,
		Header:     oauthclient.NewSecret("the-host-header-value-0123456789"),
		HeaderFile: "/run/portcullis-identity/header",
		Log:        slog.New(slog.NewTextHandler(&logs, nil)),
		Now:        clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a, &logs
}

func request(remote, host, header, query string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://"+host+TokenPath+"?"+query, nil)
	r.RemoteAddr = remote
	if header != "" {
		r.Header.Set("X-IDENTITY-HEADER", header)
	}
	return r
}

func TestAgent_AnswersInTheAppServiceShapeAndRefusesOtherHosts(t *testing.T) {
	clk := newClock()
	a, _ := newTestAgent(t, &fakeSource{clock: clk}, clk)
	const good = "the-host-header-value-0123456789"
	q := "api-version=2019-08-01&resource=api%3A%2F%2Forders"
	for _, tc := range []struct {
		name, remote, host, header, query string
		status                            int
		want                              string
	}{
		{"system-assigned", "127.0.0.1:5000", "127.0.0.1:40380", good, q, 200, `"client_id":"` + systemID + `"`},
		{"IPv6 loopback", "[::1]:5000", "[::1]:40380", good, q, 200, `"token_type":"Bearer"`},
		{"IPv4-mapped loopback", "[::ffff:127.0.0.1]:5000", "localhost:40380", good, q, 200, `"resource":"api://orders"`},
		{"user-assigned by name", "127.0.0.1:5000", "127.0.0.1:40380", good, q + "&mi_res_id=reports", 200, `"client_id":"` + userID + `"`},
		{"another host", "192.0.2.7:5000", "127.0.0.1:40380", good, q, 403, "on this host only"},
		{"another host without the header", "192.0.2.7:5000", "127.0.0.1:40380", "", q, 403, "on this host only"},
		{"a DNS name", "127.0.0.1:5000", "evil.example:40380", good, q, 403, "names host"},
		{"no header", "127.0.0.1:5000", "127.0.0.1:40380", "", q, 401, "/run/portcullis-identity/header"},
		{"wrong header", "127.0.0.1:5000", "127.0.0.1:40380", good + "x", q, 401, "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			a.ServeHTTP(w, request(tc.remote, tc.host, tc.header, tc.query))
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("got %d %s, want %d with %s", w.Code, w.Body, tc.status, tc.want)
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", w.Header().Get("Cache-Control"))
			}
			if tc.status == 200 {
				var body map[string]string
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprint(clk.Now().Add(time.Hour).Unix()); body["expires_on"] != want || body["access_token"] == "" {
					t.Errorf("expires_on %q (want %s), access_token %q", body["expires_on"], want, body["access_token"])
				}
			}
		})
	}
}

func TestAgent_TokenServiceRefusalsPassThrough(t *testing.T) {
	clk := newClock()
	src := &fakeSource{clock: clk}
	a, logs := newTestAgent(t, src, clk)
	for _, tc := range []struct {
		name   string
		err    error
		status int
		want   string
	}{
		{"refusal", &oauthclient.Error{StatusCode: 400, Code: "invalid_resource", Description: "AADSTS500011: The resource principal named api://x was not found", ErrorCodes: []int{500011}},
			400, `"error":"invalid_resource","error_description":"the token service refused a token for identity ` + systemID + ` and resource api://x: AADSTS500011: The resource principal named api://x was not found","error_codes":[500011]`},
		{"host certificate not registered", &oauthclient.Error{StatusCode: 401, Code: "invalid_client", Description: "AADSTS700027: no certificate"}, 401, `"error":"invalid_client"`},
		{"throttled", &oauthclient.Error{StatusCode: 429, Code: "temporarily_unavailable"}, 429, "temporarily_unavailable"},
		{"token service down", errors.New("dial tcp 10.0.0.1:443: connect: connection refused"), 503, "could not obtain a token for identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src.SetFail(tc.err)
			w := httptest.NewRecorder()
			a.ServeHTTP(w, request("127.0.0.1:1", "127.0.0.1:2", "the-host-header-value-0123456789", "api-version=2019-08-01&resource=api%3A%2F%2Fx"))
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("got %d %s, want %d with %s", w.Code, w.Body, tc.status, tc.want)
			}
		})
	}
	if !strings.Contains(logs.String(), "token request failed") {
		t.Errorf("the unreachable token service is not logged: %s", logs)
	}
}

func TestAgent_RefusalLogIsRateLimitedAndShowsNoHeaderValue(t *testing.T) {
	clk := newClock()
	a, logs := newTestAgent(t, &fakeSource{clock: clk}, clk)
	wrong := "a-wrong-header-value-guessed-by-someone"
	send := func() {
		w := httptest.NewRecorder()
		a.ServeHTTP(w, request("127.0.0.1:1", "127.0.0.1:2", wrong, "api-version=2019-08-01&resource=r"))
		if w.Code != 401 {
			t.Fatalf("status %d", w.Code)
		}
	}
	for range 3 {
		send()
	}
	if n := strings.Count(logs.String(), "request refused"); n != 1 {
		t.Fatalf("%d log lines for 3 refusals in the same second, want 1:\n%s", n, logs)
	}
	clk.Advance(2 * time.Second)
	send()
	out := logs.String()
	if n := strings.Count(out, "request refused"); n != 2 || !strings.Contains(out, "suppressed_since_last=2") || !strings.Contains(out, `reason="wrong header value"`) {
		t.Fatalf("after a second: %s", out)
	}
	if strings.Contains(out, wrong) || strings.Contains(out, "the-host-header-value") {
		t.Errorf("the log shows a header value: %s", out)
	}
}

func TestWriteSecretFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "header")
	for _, content := range []string{"first-value", "second-value"} {
		if err := WriteSecretFile(path, []byte(content), os.Getgid()); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != SecretFileMode {
			t.Errorf("mode %v, want %v", fi.Mode().Perm(), SecretFileMode)
		}
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Errorf("content %q, want %q", b, content)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in the directory, want only the header file", len(entries))
	}
	if err := WriteSecretFile(filepath.Join(dir, "missing", "header"), []byte("x"), -1); err == nil || !strings.Contains(err.Error(), "does the directory exist") {
		t.Errorf("missing directory: %v", err)
	}
	if err := RemoveSecretFile(path); err != nil {
		t.Fatal(err)
	}
	if err := RemoveSecretFile(path); err != nil {
		t.Errorf("removing a removed file: %v", err)
	}
	if _, err := LookupGroup("no-such-group-portcullis-test"); err == nil {
		t.Error("unknown group accepted")
	}
	if gid, err := LookupGroup("0"); err != nil || gid != 0 {
		t.Errorf("numeric group: %d %v", gid, err)
	}
}
