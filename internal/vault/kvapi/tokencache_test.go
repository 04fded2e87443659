package kvapi

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/sts"
)

// fakeVerifier accepts the tokens in valid, with their expiry, and counts calls.
type fakeVerifier struct {
	mu    sync.Mutex
	valid map[string]time.Time
	calls int
}

func (f *fakeVerifier) VerifyAccessToken(raw string) (sts.Claims, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	exp, ok := f.valid[raw]
	if !ok {
		return sts.Claims{}, errors.New("invalid token")
	}
	return sts.Claims{AppID: "app-" + raw, Roles: []string{"r"}, ExpiresAt: exp}, nil
}

func (f *fakeVerifier) set(raw string, exp time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.valid[raw] = exp
}

func (f *fakeVerifier) revoke(raw string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.valid, raw)
}

func (f *fakeVerifier) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

func TestTokenCache(t *testing.T) {
	t0 := time.Date(2031, 5, 1, 10, 0, 0, 0, time.UTC)
	type step struct {
		at        time.Duration // clock offset from t0
		token     string
		revoke    bool // the verifier stops accepting token before the call
		wantOK    bool
		wantCalls int // verifier calls so far
	}
	for _, tc := range []struct {
		name  string
		exp   time.Duration // of token "a"
		steps []step
	}{
		{"a verified token is reused", time.Hour, []step{
			{0, "a", false, true, 1},
			{time.Second, "a", false, true, 1},
			{TokenCacheMaxAge - time.Second, "a", false, true, 1},
		}},
		{"failures are never cached", time.Hour, []step{
			{0, "bad", false, false, 1},
			{0, "bad", false, false, 2},
			{0, "a", false, true, 3},
			{0, "bad", false, false, 4},
		}},
		{"reuse ends at the token's exp", 10 * time.Second, []step{
			{0, "a", false, true, 1},
			{9 * time.Second, "a", false, true, 1},
			{10 * time.Second, "a", true, false, 2},
		}},
		{"reuse ends after the maximum age, then the verifier decides", time.Hour, []step{
			{0, "a", false, true, 1},
			{TokenCacheMaxAge, "a", false, true, 2},
			{2 * TokenCacheMaxAge, "a", true, false, 3},
			{2 * TokenCacheMaxAge, "a", false, false, 4},
		}},
		{"a token already past exp (within the verifier's leeway) is not kept", -time.Second, []step{
			{0, "a", false, true, 1},
			{0, "a", false, true, 2},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &testClock{t: t0}
			v := &fakeVerifier{valid: map[string]time.Time{}}
			v.set("a", t0.Add(tc.exp))
			c := newTokenCache(100, clk.now)
			for i, s := range tc.steps {
				clk.t = t0.Add(s.at)
				if s.revoke {
					v.revoke(s.token)
				}
				claims, err := c.verify(v, s.token)
				if (err == nil) != s.wantOK {
					t.Fatalf("step %d: err = %v, want ok=%v", i, err, s.wantOK)
				}
				if err == nil && claims.AppID != "app-"+s.token {
					t.Fatalf("step %d: claims of another token: %+v", i, claims)
				}
				if got := v.count(); got != s.wantCalls {
					t.Fatalf("step %d: %d verifier calls, want %d", i, got, s.wantCalls)
				}
			}
		})
	}
}

func TestTokenCache_SizeIsBounded(t *testing.T) {
	clk := &testClock{t: time.Date(2031, 5, 1, 10, 0, 0, 0, time.UTC)}
	v := &fakeVerifier{valid: map[string]time.Time{}}
	c := newTokenCache(10, clk.now)
	for i := range 100 {
		tok := fmt.Sprint("t", i)
		v.set(tok, clk.t.Add(time.Hour))
		if _, err := c.verify(v, tok); err != nil {
			t.Fatal(err)
		}
		if n := len(c.entries); n > 10 {
			t.Fatalf("%d entries after %d tokens, want at most 10", n, i+1)
		}
	}
}
