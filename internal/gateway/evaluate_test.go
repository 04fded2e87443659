package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
)

const (
	testKey      = "k-3f9a1c7e55d2"
	testPassword = "p4ss-w0rd-7781"
)

func TestEvaluate_SpoofedHeadersNeverReachTheBackend(t *testing.T) {
	h := newHarness(t, nil)
	h.vault.set("main", "k", testKey)
	api := apiKeyAPI("t1", "orders", "/orders", "vault://main/secrets/k")
	api.PrincipalHeaders = map[string]string{"X-Caller": "subject", "X-Portcullis-Client-Id": "appId", "X-Portcullis-Method": "method"}
	h.apply(t, api)
	h.settle(t)

	spoofed := []string{
		"X-Portcullis-Client-Id", "evil-app", "x-portcullis-roles", "Admin", "X-Portcullis-Decision-Id", "0000000000000000",
		"X-Caller", "root", "X-Forwarded-Client-Cert", "Hash=abc", "X-Client-Cert", "x", "X-SSL-Client-Cert", "x",
		"Ssl-Client-Cert", "x", "X-Client-Certificate", "x", "X-ARR-ClientCert", "x",
		"X-Real-IP", "203.0.113.9", "X-Original-URL", "/admin", "x-rewrite-url", "/admin",
	}
	for _, admitted := range []bool{true, false} {
		key := testKey
		if !admitted {
			key = "wrong"
		}
		r := request("GET", "http://h.test/orders?code="+key, spoofed...)
		r.Header["x-portcullis-roles"] = []string{"Admin"} // a non-canonical key, as a raw engine may keep it
		v := h.g.Evaluate(r, false)
		v.Done(200, 0, nil)
		if v.Forward() != admitted {
			t.Fatalf("admitted=%v: status %d %s", admitted, v.Status, v.Body)
		}
		for k, vs := range r.Header {
			switch http.CanonicalHeaderKey(k) {
			case "X-Caller":
				if !admitted || vs[0] != "key1" {
					t.Errorf("X-Caller %q reached the backend", vs)
				}
			case "X-Portcullis-Method":
				if !admitted || vs[0] != "apiKey" {
					t.Errorf("%s %q", k, vs)
				}
			case DecisionIDHeader:
				if !admitted || vs[0] != v.DecisionID {
					t.Errorf("%s %q, want %s", k, vs, v.DecisionID)
				}
			default:
				t.Errorf("header %s: %q reached the verdict's request", k, vs)
			}
		}
		if strings.Contains(r.URL.RawQuery, "code") {
			t.Errorf("the API key query parameter was not stripped: %q", r.URL.RawQuery)
		}
	}
}

func TestEvaluate_PrincipalHeaderValuesAreSanitised(t *testing.T) {
	h := newHarness(t, nil)
	h.vault.set("main", "pw", testPassword)
	api := basicAPI("t1", "orders", "/", "alice", "vault://main/secrets/pw")
	api.PrincipalHeaders = map[string]string{"X-Who": "subject", "X-Cred": "credentialId"}
	h.apply(t, api)
	h.settle(t)
	r := request("GET", "https://h.test/x", "Authorization", basicAuth("alice", testPassword))
	v := h.g.Evaluate(r, false)
	if !v.Forward() {
		t.Fatalf("refused: %s", v.Body)
	}
	if r.Header.Get("Authorization") != "" {
		t.Error("the Basic password is forwarded to the backend")
	}
	if got := r.Header.Get("X-Who"); got != "alice" {
		t.Errorf("X-Who %q", got)
	}
	if got := r.Header.Get("X-Cred"); !strings.HasPrefix(got, "basic:alice@") {
		t.Errorf("X-Cred %q", got)
	}
	if got := sanitiseHeaderValue("a\r\nX-Evil: 1\x00\x7f"); got != "aX-Evil: 1" {
		t.Errorf("sanitised %q", got)
	}
}

func TestEvaluate_InsecureTransport(t *testing.T) {
	cases := []struct {
		name          string
		allowInsecure bool
		dev           bool
		plainHTTP     bool
		wantStatus    int // 0: forwarded
		wantWarning   bool
	}{
		{"https is fine", false, false, false, 0, false},
		{"plain http refused", false, false, true, http.StatusForbidden, false},
		{"plain http with allowInsecureAuth", true, false, true, 0, false},
		{"plain http in dev mode warns", false, true, true, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, func(cfg *Config) { cfg.Dev = c.dev })
			h.vault.set("main", "pw", testPassword)
			api := basicAPI("t1", "orders", "/", "alice", "vault://main/secrets/pw")
			api.AllowInsecureAuth = c.allowInsecure
			h.apply(t, api)
			h.settle(t)
			for range 2 {
				v := h.g.Evaluate(request("GET", "http://h.test/x", "Authorization", basicAuth("alice", testPassword)), c.plainHTTP)
				v.Done(200, 0, nil)
				if v.Status != c.wantStatus {
					t.Fatalf("status %d, want %d: %s", v.Status, c.wantStatus, v.Body)
				}
				if v.Status == http.StatusForbidden && !strings.Contains(string(v.Body), "HTTPS") ||
					v.Status == http.StatusForbidden && !strings.Contains(string(v.Body), "allowInsecureAuth") {
					t.Errorf("body does not say what to do: %s", v.Body)
				}
			}
			if n := strings.Count(h.logs.String(), "plain HTTP"); c.wantWarning && n != 1 || !c.wantWarning && n != 0 {
				t.Errorf("%d warnings, want one when dev admits: %s", n, h.logs.String())
			}
		})
	}
}

func TestEvaluate_FailureBudgetAnswers429BeforeCheckingCredentials(t *testing.T) {
	h := newHarness(t, func(cfg *Config) { cfg.FailureBudget = BudgetConfig{PerMinute: 30, Burst: 3} })
	h.vault.set("main", "pw", testPassword)
	h.apply(t, basicAPI("t1", "orders", "/", "alice", "vault://main/secrets/pw"))
	h.settle(t)
	try := func(pass, addr string) Verdict {
		r := request("GET", "https://h.test/x", "Authorization", basicAuth("alice", pass))
		r.RemoteAddr = addr
		v := h.g.Evaluate(r, false)
		v.Done(v.Status, 0, nil)
		return v
	}
	for i := range 3 {
		if v := try("wrong", "192.0.2.7:1000"); v.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i, v.Status)
		}
	}
	v := try(testPassword, "192.0.2.7:1001") // the right password, but over budget
	if v.Status != http.StatusTooManyRequests || v.Header.Get("Retry-After") != "2" {
		t.Fatalf("over budget: status %d Retry-After %q (%s)", v.Status, v.Header.Get("Retry-After"), v.Body)
	}
	if v := try(testPassword, "198.51.100.1:1"); !v.Forward() {
		t.Fatalf("another source is refused: %s", v.Body)
	}
	if v := try(testPassword, "[2001:db8::1]:1"); !v.Forward() {
		t.Fatalf("IPv6 source refused: %s", v.Body)
	}
	h.clock.advance(1500 * time.Millisecond)
	if v := try(testPassword, "192.0.2.7:1002"); v.Status != http.StatusTooManyRequests || v.Header.Get("Retry-After") != "1" {
		t.Fatalf("after 1.5 s: status %d Retry-After %q", v.Status, v.Header.Get("Retry-After"))
	}
	h.clock.advance(500 * time.Millisecond)
	if v := try(testPassword, "192.0.2.7:1003"); !v.Forward() {
		t.Fatalf("after the refill: status %d %s", v.Status, v.Body)
	}
	if got := testutil.ToFloat64(h.g.metrics.requests.WithLabelValues("t1", "orders", "refused", "rate_limited")); got != 2 {
		t.Errorf("rate_limited counted %v times, want 2", got)
	}
}

func TestBudget_IsBounded(t *testing.T) {
	b, err := newBudget(BudgetConfig{MaxSources: budgetShards * 2})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	for i := range 5000 {
		b.fail(sourceKey("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)+":1"), now)
	}
	n := 0
	for i := range b.shards {
		n += len(b.shards[i].m)
	}
	if n > budgetShards*2 {
		t.Fatalf("%d sources remembered, bound %d", n, budgetShards*2)
	}
}

func TestApply_MissingVaultReferenceIs503ForThatAPIOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.vault.set("main", "k", testKey)
	h.apply(t,
		apiKeyAPI("t1", "good", "/good", "vault://main/secrets/k"),
		apiKeyAPI("t1", "broken", "/broken", "vault://main/secrets/missing"),
		apiKeyAPI("t1", "foreign", "/foreign", "vault://foreign/secrets/k"),
	)
	h.settle(t)
	cases := []struct {
		path   string
		status int
		body   string
	}{
		{"/good", 0, ""},
		{"/broken", http.StatusServiceUnavailable, "vault://main/secrets/missing cannot be resolved: A secret with (name/id) missing was not found"},
		{"/foreign", http.StatusServiceUnavailable, `vault \"foreign\" does not belong to this API's tenant`},
	}
	for _, c := range cases {
		v := h.g.Evaluate(request("GET", "https://h.test"+c.path, "x-functions-key", testKey), false)
		v.Done(v.Status, 0, nil)
		if v.Status != c.status || !strings.Contains(string(v.Body), c.body) {
			t.Errorf("%s: status %d body %s; want %d with %q", c.path, v.Status, v.Body, c.status, c.body)
		}
		if c.status == http.StatusServiceUnavailable && v.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", c.path)
		}
	}
	if n := strings.Count(h.logs.String(), "api=broken"); n != 1 {
		t.Errorf("the broken API is logged %d times, want once: %s", n, h.logs.String())
	}
	// Creating the secret heals the API on the next refresh.
	h.vault.set("main", "missing", testKey)
	waitFor(t, "broken API healed", func() bool {
		return h.g.routes.Load().byKey["t1/broken"].problem() == ""
	})
	if v := h.g.Evaluate(request("GET", "https://h.test/broken", "x-functions-key", testKey), false); !v.Forward() {
		t.Fatalf("healed API refuses: %s", v.Body)
	}
}

func TestResolver_RotatedSecretIsServedAfterTheRefresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.vault.set("main", "k", "old-key-value")
	h.apply(t, apiKeyAPI("t1", "orders", "/", "vault://main/secrets/k"))
	h.settle(t)
	admit := func(key string) bool {
		v := h.g.Evaluate(request("GET", "https://h.test/x", "x-functions-key", key), false)
		return v.Forward()
	}
	if !admit("old-key-value") || admit("new-key-value") {
		t.Fatal("before rotation: the old key must be the one admitted")
	}
	ver := h.vault.set("main", "k", "new-key-value")
	e := h.g.routes.Load().byKey["t1/orders"].secrets[0]
	waitFor(t, "the new version resolved", func() bool {
		cur := e.Current()
		return cur != nil && cur.Version == ver
	})
	if admit("old-key-value") || !admit("new-key-value") {
		t.Fatal("after rotation: the new key must be the one admitted")
	}
}

func TestApply_ReusesUnchangedAPIs(t *testing.T) {
	h := newHarness(t, nil)
	h.vault.set("main", "k", testKey)
	a, b := apiKeyAPI("t1", "a", "/a", "vault://main/secrets/k"), apiKeyAPI("t1", "b", "/b", "vault://main/secrets/k")
	h.apply(t, a, b)
	h.settle(t)
	first := h.g.routes.Load().byKey
	b.Revision = 2
	b.Match.PathPrefix = "/b2"
	h.apply(t, b, a)
	second := h.g.routes.Load().byKey
	if first["t1/a"] != second["t1/a"] {
		t.Error("an unchanged API was compiled again")
	}
	if first["t1/b"] == second["t1/b"] {
		t.Error("a changed API was not compiled again")
	}
	if v := h.g.Evaluate(request("GET", "https://h.test/b2", "x-functions-key", testKey), false); !v.Forward() {
		t.Errorf("the changed API does not serve at once: %s", v.Body)
	}
	h.apply(t, a)
	if n := h.g.res.Len(); n != 1 {
		t.Errorf("%d watched references, want 1", n)
	}
}

func TestAudit_LinesCarryNoCredential(t *testing.T) {
	h := newHarness(t, nil)
	h.vault.set("main", "k", testKey)
	h.vault.set("main", "pw", testPassword)
	h.apply(t, apiKeyAPI("t1", "keys", "/keys", "vault://main/secrets/k"), basicAPI("t1", "basic", "/basic", "alice", "vault://main/secrets/pw"))
	h.settle(t)
	reqs := []*http.Request{
		request("GET", "https://h.test/keys/1?code="+testKey+"&x=1"),
		request("GET", "https://h.test/keys/1", "x-functions-key", testKey),
		request("GET", "https://h.test/keys/1", "x-functions-key", testKey+"-wrong"),
		request("POST", "https://h.test/basic", "Authorization", basicAuth("alice", testPassword)),
		request("POST", "https://h.test/basic", "Authorization", basicAuth("alice", testPassword+"-wrong")),
		request("POST", "https://h.test/none", "Authorization", "Bearer eyJhbGciOiJub25lIn0.e30."),
	}
	for _, r := range reqs {
		v := h.g.Evaluate(r, false)
		st := v.Status
		if v.Forward() {
			st = 200
		}
		v.Done(st, 3*time.Millisecond, nil)
	}
	v := h.g.Evaluate(request("GET", "https://h.test/keys/1", "x-functions-key", testKey), false)
	v.Done(http.StatusBadGateway, 0, errors.New("dial tcp 127.0.0.1:9: connect: connection refused"))
	if err := h.g.FlushAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := h.audit.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(reqs)+1 {
		t.Fatalf("%d audit lines, want %d:\n%s", len(lines), len(reqs), out)
	}
	for _, secret := range []string{testKey, testPassword, basicAuth("alice", testPassword)[6:], "eyJhbGciOiJub25lIn0", "code="} {
		if strings.Contains(out, secret) {
			t.Errorf("the audit log holds %q:\n%s", secret, out)
		}
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"tenant": "t1", "api": "keys", "method": "GET", "path": "/keys/1", "outcome": "allowed",
		"status": 200.0, "reason": "ok", "credentialMethod": "apiKey", "sourceIp": "192.0.2.10", "upstreamMs": 3.0} {
		if first[k] != want {
			t.Errorf("audit %s = %v, want %v (%s)", k, first[k], want, lines[0])
		}
	}
	if p, _ := first["principal"].(map[string]any); p["subject"] != "key1" || !strings.HasPrefix(p["credentialId"].(string), "apiKey:key1@") {
		t.Errorf("principal %v", first["principal"])
	}
	if !strings.Contains(lines[5], `"reason":"not_found"`) || !strings.Contains(lines[2], `"reason":"invalid_credentials"`) {
		t.Errorf("reasons:\n%s", out)
	}
	// Refusals and backend failures say why in words.
	if !strings.Contains(lines[2], `"detail":"`) || !strings.Contains(lines[6], `"reason":"upstream_error","detail":"dial tcp 127.0.0.1:9: connect: connection refused"`) {
		t.Errorf("details:\n%s", out)
	}
}

func TestAudit_FullQueueDropsAndCounts(t *testing.T) {
	block := make(chan struct{})
	w := writerFunc(func(p []byte) (int, error) { <-block; return len(p), nil })
	h := newHarness(t, func(cfg *Config) { cfg.Audit = w })
	// The writer holds at most one queue's worth while its sink blocks, and
	// the queue takes another: past twice the bound, lines are dropped.
	for range 2*defaultAuditQueue + 1000 {
		v := h.g.Evaluate(request("GET", "https://h.test/x"), false)
		v.Done(v.Status, 0, nil)
	}
	if got := testutil.ToFloat64(h.g.metrics.auditDropped); got < 500 {
		t.Errorf("dropped counter %v, want at least 500", got)
	}
	close(block)
}

func TestAudit_ASinkThatFailsThenRecoversGetsLinesAgain(t *testing.T) {
	var mu sync.Mutex
	broken := true
	var got bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if broken {
			return 0, errors.New("no space left on device")
		}
		return got.Write(p)
	})
	h := newHarness(t, func(cfg *Config) { cfg.Audit = w })
	decide := func(path string) {
		v := h.g.Evaluate(request("GET", "https://h.test"+path), false)
		v.Done(v.Status, 0, nil)
	}
	decide("/lost")
	if err := h.g.FlushAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(h.g.metrics.auditDropped); n != 1 {
		t.Errorf("dropped counter %v after a failed write, want 1", n)
	}
	mu.Lock()
	broken = false
	mu.Unlock()
	decide("/kept")
	if err := h.g.FlushAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if out := got.String(); !strings.Contains(out, `"/kept"`) || strings.Contains(out, `"/lost"`) {
		t.Errorf("after the sink recovered the audit log holds:\n%s", out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestMetrics_CountedPerAPIAndReason(t *testing.T) {
	h := newHarness(t, nil)
	h.vault.set("main", "k", testKey)
	h.apply(t, apiKeyAPI("t1", "orders", "/orders", "vault://main/secrets/k"))
	h.settle(t)
	run := func(r *http.Request, status int, err error) {
		v := h.g.Evaluate(r, false)
		if v.Forward() {
			v.Done(status, 2*time.Millisecond, err)
		} else {
			v.Done(v.Status, 0, nil)
		}
	}
	run(request("GET", "https://h.test/orders", "x-functions-key", testKey), 200, nil)
	run(request("GET", "https://h.test/orders", "x-functions-key", testKey), 502, context.DeadlineExceeded)
	run(request("GET", "https://h.test/orders"), 0, nil)
	run(request("GET", "https://h.test/orders", "x-functions-key", "nope"), 0, nil)
	run(request("GET", "https://h.test/elsewhere"), 0, nil)
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"t1", "orders", "allowed", "ok"}, 1},
		{[]string{"t1", "orders", "allowed", "upstream_error"}, 1},
		{[]string{"t1", "orders", "refused", "no_credentials"}, 1},
		{[]string{"t1", "orders", "refused", "invalid_credentials"}, 1},
		{[]string{"", "", "refused", "not_found"}, 1},
	} {
		if got := testutil.ToFloat64(h.g.metrics.requests.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(h.g.metrics.upstream); n != 2 { // orders and the unrouted series
		t.Errorf("%d upstream histograms", n)
	}
	// Both forwarded requests were observed, the refusals were not.
	var m dto.Metric
	if err := h.g.metrics.upstream.WithLabelValues("t1", "orders").(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetHistogram().GetSampleCount(); n != 2 {
		t.Errorf("upstream latency samples = %d, want 2", n)
	}
	h.apply(t)
	if n := testutil.CollectAndCount(h.g.metrics.requests, "portcullis_gateway_requests_total"); n != int(numReasons) {
		t.Errorf("%d series after the API was deleted, want only the unrouted ones (%d)", n, numReasons)
	}
}

func TestExplain_StepsAndNoCredential(t *testing.T) {
	h := newHarness(t, func(cfg *Config) {
		cfg.TenantID = func(s string) (string, bool) {
			return map[string]string{"contoso": "t1", "t1": "t1"}[s], s == "contoso" || s == "t1"
		}
	})
	h.vault.set("main", "pw", testPassword)
	h.apply(t, basicAPI("t1", "orders", "/", "alice", "vault://main/secrets/pw"))
	h.settle(t)
	for _, c := range []struct {
		pass    string
		allowed bool
		outcome string
	}{{testPassword, true, "admitted"}, {"Xq7-not-it", false, "refused"}} {
		r := request("GET", "https://h.test/x", "Authorization", basicAuth("alice", c.pass))
		res, err := h.g.Explain("contoso", "orders", r)
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed != c.allowed || len(res.Steps) == 0 || res.Steps[0].Outcome != c.outcome {
			t.Errorf("%+v", res)
		}
		b, _ := json.Marshal(res)
		if strings.Contains(string(b), c.pass) || strings.Contains(res.String(), c.pass) {
			t.Errorf("explanation holds the password: %s", b)
		}
		if r.Header.Get("Authorization") == "" {
			t.Error("Explain changed the caller's request")
		}
	}
	if _, err := h.g.Explain("contoso", "nope", request("GET", "https://h.test/")); err == nil {
		t.Error("unknown API explained")
	}
}

func TestNeedsClientCertificate(t *testing.T) {
	h := newHarness(t, nil)
	h.apply(t, apiKeyAPI("t1", "a", "/", "vault://main/secrets/k"))
	if h.g.NeedsClientCertificate() {
		t.Error("no API takes certificates")
	}
	api := apiKeyAPI("t1", "b", "/b", "vault://main/secrets/k")
	api.Policy.Methods = append(api.Policy.Methods, certMethod())
	h.apply(t, api)
	if !h.g.NeedsClientCertificate() {
		t.Error("an API takes certificates")
	}
}

type fakeBackend struct {
	up     Upstream
	closed atomic.Bool
}

func (b *fakeBackend) Close() { b.closed.Store(true) }

func TestApply_BackendsAreKeptWhileUnchangedAndClosedWhenReplaced(t *testing.T) {
	var made []*fakeBackend
	h := newHarness(t, func(c *Config) {
		c.NewBackend = func(u Upstream) (Backend, error) {
			b := &fakeBackend{up: u}
			made = append(made, b)
			return b, nil
		}
	})
	a := apiKeyAPI("t1", "a", "/a", "vault://main/secrets/k")
	a.Backend = directory.Backend{URLs: []string{"http://127.0.0.1:8081/base"}, StripPathPrefix: true,
		Timeouts: directory.Timeouts{ConnectSeconds: 1.5}}
	h.apply(t, a)
	h.apply(t, a)
	if len(made) != 1 || made[0].up.ConnectTimeout != 1500*time.Millisecond || made[0].up.ResponseHeaderTimeout != 30*time.Second ||
		made[0].up.URLs[0].Path != "/base" {
		t.Fatalf("backends %+v", made)
	}
	a.Revision = 2
	h.apply(t, a)
	if len(made) != 2 || !made[0].closed.Load() || made[1].closed.Load() {
		t.Fatal("the replaced backend is not closed, or the new one is")
	}
	h.vault.set("main", "k", testKey)
	h.settle(t)
	// settle can see the pass that found the secret missing; wait for the
	// one that resolves it (seen failing under load).
	waitFor(t, "the API's key resolved", func() bool {
		for _, x := range h.g.routes.Load().apis {
			if x.Name == "a" && x.problem() == "" {
				return true
			}
		}
		return false
	})
	r := request("GET", "https://h.test/a/x/y", "x-functions-key", testKey)
	v := h.g.Evaluate(r, false)
	if !v.Forward() || v.API.Backend != made[1] || r.URL.Path != "/x/y" {
		t.Fatalf("forward %v, path %q %d %s", v.Forward(), r.URL.Path, v.Status, v.Body)
	}
	h.apply(t)
	if !made[1].closed.Load() {
		t.Error("the backend of a deleted API is not closed")
	}
}

func TestApply_BadBackendOrHeadersIs503(t *testing.T) {
	h := newHarness(t, nil)
	badURL := apiKeyAPI("t1", "bad-url", "/u", "vault://main/secrets/k")
	badURL.Backend.URLs = []string{"ftp://x"}
	badHeader := apiKeyAPI("t1", "bad-header", "/h", "vault://main/secrets/k")
	badHeader.PrincipalHeaders = map[string]string{"Authorization": "subject"}
	badField := apiKeyAPI("t1", "bad-field", "/f", "vault://main/secrets/k")
	badField.PrincipalHeaders = map[string]string{"X-Pw": "password"}
	badPolicy := apiKeyAPI("t1", "bad-policy", "/p", "vault://main/secrets/k")
	badPolicy.Policy.Methods[0].Type = "magic"
	h.apply(t, badURL, badHeader, badField, badPolicy)
	want := map[string]string{"bad-url": "backend.urls[0]", "bad-header": "reserved", "bad-field": "use one of", "bad-policy": "magic"}
	ps := h.g.Problems()
	if len(ps) != len(want) {
		t.Fatalf("problems %+v", ps)
	}
	for _, p := range ps {
		if !strings.Contains(p.Reason, want[p.API]) {
			t.Errorf("%s: %q does not say %q", p.API, p.Reason, want[p.API])
		}
	}
}

func TestApply_BackendCredentialProblemsAre503(t *testing.T) {
	h := newHarness(t, nil)
	basic := &outbound.CredentialSpec{Type: outbound.TypeBasic, Username: "gw", Password: "vault://main/secrets/pw"}
	plain := apiKeyAPI("t1", "plain", "/plain", "vault://main/secrets/k")
	plain.Backend.Credential = basic
	mixed := apiKeyAPI("t1", "mixed", "/mixed", "vault://main/secrets/k")
	mixed.Backend.URLs = []string{"https://127.0.0.1:9/", "http://127.0.0.1:9/"}
	mixed.Backend.Credential = basic
	cert := apiKeyAPI("t1", "cert", "/cert", "vault://main/secrets/k")
	cert.Backend.URLs = []string{"https://127.0.0.1:9/", "http://127.0.0.1:9/"}
	cert.Backend.Credential = &outbound.CredentialSpec{Type: outbound.TypeClientCertificate, Certificate: "vault://main/certificates/c"}
	clash := apiKeyAPI("t1", "clash", "/clash", "vault://main/secrets/k")
	clash.Backend.URLs = []string{"https://127.0.0.1:9/"}
	clash.Backend.Credential = &outbound.CredentialSpec{Type: outbound.TypeAPIKeyHeader, Header: "x-caller", Key: "vault://main/secrets/bk"}
	clash.PrincipalHeaders = map[string]string{"X-Caller": "subject"}
	h.apply(t, plain, mixed, cert, clash)
	want := map[string]string{"plain": "allowInsecureAuth", "mixed": "backend.allowInsecureAuth", "cert": "needs TLS", "clash": "principalHeaders"}
	ps := h.g.Problems()
	if len(ps) != len(want) {
		t.Fatalf("problems %+v", ps)
	}
	for _, p := range ps {
		if !strings.Contains(p.Reason, want[p.API]) {
			t.Errorf("%s: %q does not say %q", p.API, p.Reason, want[p.API])
		}
	}
}

// A caller's header of the credential's name is replaced, not merged, and
// the API waits (503, Retry-After) while the credential's secret is not
// resolved.
func TestEvaluate_BackendCredentialReplacesTheCallersHeader(t *testing.T) {
	h := newHarness(t, nil)
	a := apiKeyAPI("t1", "a", "/a", "vault://main/secrets/k")
	a.Backend.URLs = []string{"https://127.0.0.1:9/"}
	a.Backend.Credential = &outbound.CredentialSpec{Type: outbound.TypeBearer, Token: "vault://main/secrets/backend-token"}
	h.vault.set("main", "k", testKey)
	h.apply(t, a)
	h.settle(t)
	r := request("GET", "https://h.test/a/x", "x-functions-key", testKey)
	r.Header.Add("Authorization", "Bearer forged")
	if v := h.g.Evaluate(r, false); v.Status != http.StatusServiceUnavailable || v.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(v.Body), "backend-token") {
		t.Fatalf("without the backend secret: %d %s", v.Status, v.Body)
	}
	h.vault.set("main", "backend-token", "the-backend-token")
	waitFor(t, "the backend token resolved", func() bool {
		r = request("GET", "https://h.test/a/x", "x-functions-key", testKey)
		r.Header.Add("Authorization", "Bearer forged")
		return h.g.Evaluate(r, false).Forward()
	})
	if got := r.Header.Values("Authorization"); len(got) != 1 || got[0] != "Bearer the-backend-token" {
		t.Fatalf("Authorization toward the backend %q, want only the configured token", got)
	}
}

func TestStripClientHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop bool
	}{
		{"X-Portcullis-Roles", true},
		{"x-portcullis-subject", true},
		{"X-Real-Ip", true},
		{"True-Client-Ip", true},
		{"CF-Connecting-IP", true},
		{"X-Client-Ip", true},
		{"Client-Ip", true},
		{"X-Cluster-Client-Ip", true},
		{"X-Original-Forwarded-For", true},
		{"X-Original-Host", true},
		{"X-Http-Method-Override", true},
		{"X-Method-Override", true},
		// "_" for "-": one variable to CGI, WSGI, PHP and Rack backends
		{"X-Portcullis_Roles", true},
		{"X_Portcullis_Subject", true},
		{"X_Forwarded_For", true},
		{"x-forwarded_proto", true},
		{"Forwarded_", false}, // "Forwarded-" is no name the gateway sets
		{"X_Real_Ip", true},
		{"X_Forwarded_Client_Cert", true},
		// kept
		{"Accept", false},
		{"X-Request-Id", false},
		{"X_Custom_Header", false},
		{"Client", false},
		{"X-Forwarded-For", false}, // the engine replaces it itself
	} {
		h := http.Header{tc.name: {"v"}}
		stripClientHeaders(h)
		if _, kept := h[tc.name]; kept == tc.drop {
			t.Errorf("%s: kept %v, want dropped %v", tc.name, kept, tc.drop)
		}
	}
}

func FuzzStripClientHeaders(f *testing.F) {
	for _, s := range []string{"", "X-Portcullis-Roles", "x-forwarded-client-cert", "Ssl-Client-Cert", "X", "Accept", "x-portcullis-", "\x00", "X-Real-Ip", "x-original-url", "X_Forwarded_For", "x-portcullis_roles"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		h := http.Header{name: {"v"}, "Accept": {"a"}}
		stripClientHeaders(h)
		// Header names are ASCII tokens: the oracle folds ASCII case only (strings.EqualFold would also
		// fold "ſ" with "s", which no parser here lets through).
		lower := func(s string) string {
			b := []byte(s)
			for i, c := range b {
				if 'A' <= c && c <= 'Z' {
					b[i] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
		mustNot := func(n string) bool {
			drop := strings.HasPrefix(lower(n), "x-portcullis-")
			for _, c := range proxySetHeaders {
				drop = drop || lower(n) == lower(c)
			}
			return drop
		}
		drop := mustNot(name)
		if strings.Contains(name, "_") {
			d := strings.ReplaceAll(name, "_", "-")
			drop = mustNot(d) || strings.HasPrefix(lower(d), "x-forwarded-")
		}
		if _, kept := h[name]; kept == drop && name != "Accept" {
			t.Fatalf("%q kept=%v", name, kept)
		}
		if h.Get("Accept") != "a" {
			t.Fatal("Accept was dropped")
		}
	})
}

func FuzzAuditLineIsJSON(f *testing.F) {
	for _, s := range []string{"", "/a", "\"\\\x00\x1f\x7f", "\xff\xfe", "é\u2028x", "<script>"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, path, subject string) {
		r := auditRecord{at: time.Unix(0, 0), id: "0123456789abcdef", tenant: "t", api: "a", method: "GET", path: path,
			subject: subject, outcome: "allowed", status: 200, reason: reasonOK, upstream: time.Millisecond, source: sourceKey("192.0.2.1:1")}
		line := appendAuditLine(nil, &r)
		var got map[string]any
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		var want string
		b, _ := json.Marshal(path)
		json.Unmarshal(b, &want)
		if want != got["path"] {
			t.Fatalf("path %q came back as %q", path, got["path"])
		}
	})
}

func TestResolver_VaultOutageKeepsTheLastValues(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.vault.set("main", "k", testKey)
	h.apply(t, apiKeyAPI("t1", "orders", "/", "vault://main/secrets/k"))
	h.settle(t)
	calls := h.vault.resolveCalls()
	h.vault.setDown(errors.New("database is unreachable"))
	waitFor(t, "a refresh during the outage", func() bool { return h.vault.resolveCalls() > calls })
	if v := h.g.Evaluate(request("GET", "https://h.test/x", "x-functions-key", testKey), false); !v.Forward() {
		t.Fatalf("an outage of the vault took the API down: %s", v.Body)
	}
	// The pass logs the outage after the Resolve call counted above returns.
	waitFor(t, "the outage logged", func() bool { return strings.Contains(h.logs.String(), "keeping its last value") })
}

func TestSourceAddresses(t *testing.T) {
	for _, c := range []struct{ remote, addr, key string }{
		{"192.0.2.1:443", "192.0.2.1", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:1", "192.0.2.1", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:1", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
		{"[fe80::1%eth0]:1", "fe80::1", "fe80::"},
		{"192.0.2.9", "192.0.2.9", "192.0.2.9"},
		{"@", "invalid IP", "invalid IP"},
	} {
		a := sourceAddr(c.remote)
		if a.String() != c.addr || budgetKey(a).String() != c.key {
			t.Errorf("%s: addr %s key %s, want %s %s", c.remote, a, budgetKey(a), c.addr, c.key)
		}
	}
}

func FuzzEvaluate(f *testing.F) {
	for _, s := range [][4]string{
		{"GET", "h.test", "/orders/1", "x-functions-key"}, {"POST", "API.EXAMPLE.COM:1", "/", "Authorization"},
		{"", "", "", ""}, {"GET", "h.test", "/orders/../x", "X-Portcullis-Roles"}, {"G\x00", "[::1]", "//", "\x00"},
	} {
		f.Add(s[0], s[1], s[2], s[3], "v")
	}
	h := newHarness(f, func(c *Config) { c.Audit = io.Discard })
	h.vault.set("main", "k", testKey)
	h.vault.set("main", "pw", testPassword)
	cert := apiKeyAPI("t1", "mtls", "/mtls", "unused")
	cert.Policy.Methods = []guard.MethodSpec{certMethod()}
	h.apply(f, apiKeyAPI("t1", "orders", "/orders", "vault://main/secrets/k"), basicAPI("t1", "basic", "/", "alice", "vault://main/secrets/pw"), cert)
	h.settle(f)
	f.Fuzz(func(t *testing.T, method, host, path, name, value string) {
		r := &http.Request{Method: method, Host: host, URL: &url.URL{Path: path}, Header: http.Header{name: {value}}, RemoteAddr: "192.0.2.1:1"}
		v := h.g.Evaluate(r, len(value)%2 == 0)
		v.Done(v.Status, 0, nil)
		switch v.Status {
		case 0, 400, 401, 403, 404, 405, 429, 503:
		default:
			t.Fatalf("status %d", v.Status)
		}
		if !v.Forward() && !json.Valid(v.Body) {
			t.Fatalf("body %q", v.Body)
		}
		for k := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-portcullis-") && !v.Forward() {
				t.Fatalf("%s survived a refusal", k)
			}
		}
	})
}

// A failing backend is told to the server log (the audit log has every
// request), once per API and interval, never with a credential.
func TestDone_BackendFailuresReachTheServerLogRateLimited(t *testing.T) {
	h := newHarness(t, nil)
	h.vault.set("main", "k", testKey)
	h.apply(t, apiKeyAPI("t1", "keys", "/keys", "vault://main/secrets/k"))
	h.settle(t)
	fail := func(err error) {
		v := h.g.Evaluate(request("GET", "https://h.test/keys/1", "x-functions-key", testKey), false)
		if !v.Forward() {
			t.Fatalf("refused: %d %s", v.Status, v.Body)
		}
		v.Done(http.StatusBadGateway, 0, err)
	}
	tlsErr := errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority (backend 127.0.0.1:9443)")
	fail(tlsErr)
	fail(tlsErr)
	fail(errors.New("dial tcp 127.0.0.1:9: connect: connection refused"))
	if n := strings.Count(h.logs.String(), "the backend of an API failed"); n != 1 {
		t.Fatalf("%d log lines for three failures within the interval, want 1:\n%s", n, h.logs.String())
	}
	for _, want := range []string{"api=keys", "tenant=t1", "status=502", "unknown authority"} {
		if !strings.Contains(h.logs.String(), want) {
			t.Errorf("log line lacks %q:\n%s", want, h.logs.String())
		}
	}
	h.clock.advance(11 * time.Second)
	fail(errors.New("dial tcp 127.0.0.1:9: connect: connection refused"))
	logs := h.logs.String()
	if n := strings.Count(logs, "the backend of an API failed"); n != 2 || !strings.Contains(logs, "suppressed=2") {
		t.Fatalf("after the interval: %d lines, want 2 with suppressed=2:\n%s", n, logs)
	}
	if strings.Contains(logs, testKey) {
		t.Fatalf("the log holds the API key:\n%s", logs)
	}
}

func TestStripPrincipalHeaders_AlsoSpeltWithUnderscores(t *testing.T) {
	// Names as compileHeaders keeps them (canonical): the last one was configured as X_Caller_Id.
	a := &API{ownHeaders: []string{"X-Caller", "Caller-Roles", "X_caller_id"}}
	h := http.Header{"X-Caller": {"forged"}, "X_Caller": {"forged"}, "Caller_roles": {"Admin"},
		"X-Caller-Id": {"forged"}, "X_caller-id": {"forged"}, "X_Other": {"kept"}, "Accept": {"kept"}}
	a.stripPrincipalHeaders(h)
	for _, name := range []string{"X-Caller", "X_Caller", "Caller_roles", "X-Caller-Id", "X_caller-id"} {
		if _, ok := h[name]; ok {
			t.Errorf("%s reached the backend", name)
		}
	}
	for _, name := range []string{"X_Other", "Accept"} { // as the parser keeps them: "_" is no word boundary
		if len(h[name]) != 1 {
			t.Errorf("%s dropped: %v", name, h)
		}
	}
}
