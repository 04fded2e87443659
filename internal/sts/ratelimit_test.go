package sts

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/directory"
)

// key is a limiter key for a test name (hashed like a non-IP source).
func key(s string) limiterKey {
	k, _ := sourceKey(s)
	return k
}

func TestFailureLimiter_BlocksThenRefillsAndPrunes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newFailureLimiter(RateLimit{Every: 10 * time.Second, Burst: 2}, 4)
	for i := 0; i < 2; i++ {
		if _, blocked := l.blocked(key("c"), now); blocked {
			t.Fatalf("blocked after %d failures", i)
		}
		l.fail(key("c"), now)
	}
	wait, blocked := l.blocked(key("c"), now)
	if !blocked || wait < 9*time.Second || wait > 10*time.Second {
		t.Fatalf("blocked=%v wait=%v; want blocked ~10s", blocked, wait)
	}
	if _, blocked := l.blocked(key("c"), now.Add(10*time.Second)); blocked {
		t.Fatal("still blocked after refill")
	}
	for i := 0; i < 20; i++ {
		l.fail(key(fmt.Sprint("k", i)), now)
	}
	if len(l.buckets) > 4 {
		t.Fatalf("%d buckets; bound is 4", len(l.buckets))
	}
	off := newFailureLimiter(RateLimit{Every: time.Second, Burst: -1}, 4)
	off.fail(key("x"), now)
	if _, blocked := off.blocked(key("x"), now); blocked {
		t.Fatal("a disabled limiter blocked")
	}
}

func TestLimiterKeys_AreFixedSizeAndCanonical(t *testing.T) {
	id := uuid.NewString()
	lower, ok1 := clientKey(id)
	upper, ok2 := clientKey(strings.ToUpper(id))
	if !ok1 || !ok2 || lower != upper {
		t.Fatalf("a GUID in either case must give one key: %v %v", ok1, ok2)
	}
	for _, notGUID := range []string{"", "api://orders", "{" + id + "}", strings.ReplaceAll(id, "-", ""), "urn:uuid:" + id, strings.Repeat("a", 64<<10)} {
		if _, ok := clientKey(notGUID); ok {
			t.Errorf("clientKey(%.40q) has a key; a non-GUID cannot name an application", notGUID)
		}
	}
	v4, _ := sourceKey("192.0.2.1")
	mapped, _ := sourceKey("::ffff:192.0.2.1")
	if v4 != mapped {
		t.Error("an IPv4 address and its IPv4-mapped form must share a key")
	}
	if a, b := key("192.0.2.1:1"), key("192.0.2.1:2"); a == b {
		t.Error("distinct non-IP sources share a key")
	}
	if _, ok := sourceKey(""); ok {
		t.Error("an empty source has a key")
	}
}

// An attacker who sends failing token requests with ever new, huge client
// ids must not grow the limiters: non-GUIDs never enter the per-client map
// and GUIDs and addresses are held as 16 bytes.
func TestFailureLimiter_UnauthenticatedClientIDsStayBoundedInBytes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tenant := directory.Tenant{ID: uuid.NewString(), Name: "contoso"}
	s := New(Config{Now: func() time.Time { return now }, FailedAuthPerSource: RateLimit{Burst: -1}}, nil, nil)
	if err := s.Apply(directory.NewSnapshot(1, []directory.Tenant{tenant}, nil, nil, nil), nil); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	const requests = 10_000
	huge := strings.Repeat("x", 16<<10) // 10,000 of them held as text would be 160 MiB
	post := func(clientID string) int {
		body := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {"s"}, "scope": {"api://x/.default"}}.Encode()
		r, _ := http.NewRequest(http.MethodPost, "https://sts.example/"+tenant.ID+"/oauth2/v2.0/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "198.51.100.7:40000"
		w := &statusWriter{h: http.Header{}}
		mux.ServeHTTP(w, r)
		return w.status
	}
	for i := 0; i < requests; i++ {
		if st := post(fmt.Sprint(i, huge)); st != http.StatusBadRequest {
			t.Fatalf("request %d: status %d; want 400 (unknown client)", i, st)
		}
	}
	if n := s.clientLimiter.bytes(); n != 0 {
		t.Fatalf("per-client limiter holds %d bytes after %d non-GUID client ids; want 0", n, requests)
	}
	// GUIDs that name no application are remembered, at a fixed size each.
	for i := 0; i < requests; i++ {
		post(uuid.NewString())
	}
	if n, bound := s.clientLimiter.bytes(), requests*limiterEntryBytes; n > bound {
		t.Fatalf("per-client limiter holds %d bytes; bound %d (%d entries of %d bytes)", n, bound, requests, limiterEntryBytes)
	}
	if limiterEntryBytes > 160 {
		t.Fatalf("a limiter entry holds %d bytes; the documented bound assumes at most 160", limiterEntryBytes)
	}
	// The absolute bound: maxLimiterEntries × limiterEntryBytes, whatever is sent.
	t.Logf("limiter bound: %d entries × %d bytes = %.1f MiB per limiter", maxLimiterEntries, limiterEntryBytes,
		float64(maxLimiterEntries*limiterEntryBytes)/(1<<20))
}

func TestReplayCache_EntriesAreFixedSizeWhateverTheJTI(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newReplayCache(100)
	for i := 0; i < 1000; i++ {
		c.add("app", fmt.Sprint(i, strings.Repeat("j", 256)), now.Add(time.Hour), now)
	}
	if len(c.seen) > 100 || len(c.queue)-c.head > 100 {
		t.Fatalf("cache holds %d keys and %d queued entries; bound is 100", len(c.seen), len(c.queue)-c.head)
	}
	if replayEntryBytes != 40 {
		t.Fatalf("a replay entry holds %d bytes; want 40 (32-byte hash + expiry)", replayEntryBytes)
	}
}

type statusWriter struct {
	h      http.Header
	status int
}

func (w *statusWriter) Header() http.Header { return w.h }
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}

func TestCertCache_StaysBoundedInBytes(t *testing.T) {
	var c certCache
	der := make([]byte, 1<<20)
	for i := 0; i < 100; i++ {
		der[0], der[1] = byte(i), byte(i>>8) // a distinct (unparseable) DER each time
		if rc := c.get(der); rc.err == nil {
			t.Fatal("garbage parsed as a certificate")
		}
		if c.bytes > maxCertCacheBytes {
			t.Fatalf("after %d certificates the cache holds %d bytes; bound %d", i+1, c.bytes, maxCertCacheBytes)
		}
	}
	if len(c.m) == 0 || len(c.m) > maxCertCacheBytes/(2<<20) {
		t.Fatalf("%d entries of 1 MiB cached; want between 1 and %d", len(c.m), maxCertCacheBytes/(2<<20))
	}
}
