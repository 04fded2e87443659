package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/store/postgres"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/kvapi"
)

// outcomes counts the answers of one kind of request in one phase.
type outcomes struct {
	mu     sync.Mutex
	ok     int
	failed map[string]int // "status: body start" or the transport error
}

func (o *outcomes) add(ok bool, what string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ok {
		o.ok++
		return
	}
	if o.failed == nil {
		o.failed = map[string]int{}
	}
	o.failed[what]++
}

func (o *outcomes) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return fmt.Sprintf("%d ok, failures %v", o.ok, o.failed)
}

// Phases of the outage test.
const (
	phaseBefore = iota
	phaseDuring
	phaseAfter
	phases
)

// TestServe_StaticStabilityWhileTheDatabaseIsCut runs a node on PostgreSQL
// through a proxy, puts light load on it (token requests, vault reads of
// objects read before, gateway traffic, vault and admin writes), cuts the
// proxy for a few seconds and restores it: tokens, vault reads and the
// gateway never fail; writes are answered 503 with Retry-After during the
// outage and succeed after it; /readyz is 503 during and 200 after, without
// a restart; every read made during the outage is in the audit log
// afterwards (spooled, then replayed).
func TestServe_StaticStabilityWhileTheDatabaseIsCut(t *testing.T) {
	dbURL, proxied, proxy := proxiedDatabaseURL(t)

	// The gateway's backend.
	backendLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "backend") })}
	go backend.Serve(backendLn)
	t.Cleanup(func() { backend.Close() })

	r := startServer(t, Config{Dev: true, DataDir: t.TempDir(), DatabaseURL: proxied, ReloadInterval: 100 * time.Millisecond,
		GatewayListen: []string{"http://127.0.0.1:0"}})
	adminTok, st, body := r.token(t, r.cred.TenantID, r.cred.ClientID, r.cred.ClientSecret, r.cred.Scope)
	if st != http.StatusOK {
		t.Fatalf("admin token: %d %v", st, body)
	}
	vaultTok, st, body := r.token(t, r.cred.TenantID, r.cred.ClientID, r.cred.ClientSecret, VaultIdentifierURI+"/.default")
	if st != http.StatusOK {
		t.Fatalf("vault token: %d %v", st, body)
	}
	send := func(method, target, tok, body string) (int, http.Header, string, error) {
		req, err := http.NewRequest(method, target, strings.NewReader(body))
		if err != nil {
			return 0, nil, "", err
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := r.client.Do(req)
		if err != nil {
			return 0, nil, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return res.StatusCode, res.Header, string(b), nil
	}
	secretURL := func(name string) string {
		return kvapi.PathVaultURL(r.base, vault.DefaultVault) + "/secrets/" + name + "?api-version=7.5"
	}

	// An API on the gateway, for the admin token's audience.
	audience := strings.TrimSuffix(r.cred.Scope, "/.default")
	api, _ := json.Marshal(map[string]any{
		"name":    "outage",
		"match":   map[string]any{"pathPrefix": "/outage"},
		"backend": map[string]any{"urls": []string{"http://" + backendLn.Addr().String()}, "timeouts": map[string]any{"connectSeconds": 2}},
		"policy": map[string]any{
			"methods": []any{map[string]any{"type": "bearer", "issuers": []any{map[string]any{"tenant": r.cred.TenantID}}, "audiences": []string{audience}}},
		},
	})
	if st, _, b, err := send(http.MethodPost, r.base+"/admin/v1/tenants/"+r.cred.TenantID+"/apis", adminTok, string(api)); err != nil || st != http.StatusCreated {
		t.Fatalf("create API: %d %s %v", st, b, err)
	}
	gatewayURL := "http://" + r.srv.gateway.listeners[0].Addr() + "/outage/x"
	waitFor(t, 10*time.Second, "the gateway serves the API", func() bool {
		st, _, _, err := send(http.MethodGet, gatewayURL, adminTok, "")
		return err == nil && st == http.StatusOK
	})

	// Secrets read before the outage.
	names := []string{"s0", "s1", "s2", "s3"}
	for _, n := range names {
		if st, _, b, err := send(http.MethodPut, secretURL(n), vaultTok, `{"value":"v-`+n+`"}`); err != nil || st != http.StatusOK {
			t.Fatalf("set %s: %d %s %v", n, st, b, err)
		}
		if st, _, b, err := send(http.MethodGet, secretURL(n), vaultTok, ""); err != nil || st != http.StatusOK {
			t.Fatalf("get %s: %d %s %v", n, st, b, err)
		}
	}

	var phase atomic.Int32
	var tokens, reads, gw, writes [phases]outcomes
	var readsTotal atomic.Int64
	var writes503 atomic.Int64
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	loop := func(pause time.Duration, fn func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				fn(i)
				time.Sleep(pause) // load pacing
			}
		}()
	}
	describe := func(st int, b string, err error) string {
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("%d %.80s", st, b)
	}
	loop(20*time.Millisecond, func(int) {
		p := phase.Load()
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {r.cred.ClientID}, "client_secret": {r.cred.ClientSecret}, "scope": {r.cred.Scope}}
		res, err := r.client.PostForm(r.base+"/"+r.cred.TenantID+"/oauth2/v2.0/token", form)
		st, b := 0, ""
		if err == nil {
			bb, _ := io.ReadAll(res.Body)
			res.Body.Close()
			st, b = res.StatusCode, string(bb)
		}
		tokens[p].add(err == nil && st == http.StatusOK, describe(st, b, err))
	})
	for range 2 {
		loop(10*time.Millisecond, func(i int) {
			p := phase.Load()
			st, _, b, err := send(http.MethodGet, secretURL(names[i%len(names)]), vaultTok, "")
			ok := err == nil && st == http.StatusOK && strings.Contains(b, `"v-`+names[i%len(names)]+`"`)
			if ok {
				readsTotal.Add(1)
			}
			reads[p].add(ok, describe(st, b, err))
		})
	}
	loop(20*time.Millisecond, func(int) {
		p := phase.Load()
		st, _, b, err := send(http.MethodGet, gatewayURL, adminTok, "")
		gw[p].add(err == nil && st == http.StatusOK && b == "backend", describe(st, b, err))
	})
	loop(50*time.Millisecond, func(i int) {
		p := phase.Load()
		st, h, b, err := send(http.MethodPut, secretURL("w"), vaultTok, fmt.Sprintf(`{"value":"w%d"}`, i))
		switch {
		case err == nil && st == http.StatusOK:
			writes[p].add(true, "")
		case err == nil && st == http.StatusServiceUnavailable && h.Get("Retry-After") != "" && strings.Contains(b, `"code":"ServiceUnavailable"`):
			writes503.Add(1)
			writes[p].add(p == phaseDuring, "503 outside the outage: "+describe(st, b, err))
		default:
			writes[p].add(false, describe(st, b, err))
		}
	})

	ready := func() int {
		st, _, _, err := send(http.MethodGet, r.base+"/readyz", "", "")
		if err != nil {
			return 0
		}
		return st
	}
	waitFor(t, 5*time.Second, "load before the outage", func() bool { return reads[phaseBefore].ok > 20 && writes[phaseBefore].ok > 2 })

	proxy.Cut()
	phase.Store(phaseDuring)
	waitFor(t, 5*time.Second, "/readyz answers 503 during the outage", func() bool { return ready() == http.StatusServiceUnavailable })
	// A change through the admin API fails fast with 503 and Retry-After.
	st, h, b, err := send(http.MethodPost, r.base+"/admin/v1/tenants", adminTok, `{"name":"during-outage"}`)
	if err != nil || st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("admin write during the outage: %d %q %s %v; want 503 with Retry-After", st, h.Get("Retry-After"), b, err)
	}
	// Admin reads the node's snapshot can answer are served from it.
	for _, path := range []string{"/admin/v1/tenants", "/admin/v1/tenants/" + r.cred.TenantID + "/apis", "/admin/v1/tenants/" + r.cred.TenantID + "/apis/outage"} {
		st, _, b, err := send(http.MethodGet, r.base+path, adminTok, "")
		if err != nil || st != http.StatusOK || !strings.Contains(b, r.cred.TenantID) {
			t.Errorf("admin read %s during the outage: %d %.200s %v; want 200 from the snapshot", path, st, b, err)
		}
	}
	// A few seconds of outage under load; retries must not pile up
	// goroutines or open files (connections, spool) meanwhile.
	time.Sleep(time.Second)
	fds1, g1 := openFiles(t), runtime.NumGoroutine()
	time.Sleep(2 * time.Second)
	fds2, g2 := openFiles(t), runtime.NumGoroutine()
	if fds1 > 0 && fds2 > fds1+10 || g2 > g1+20 {
		t.Errorf("during the outage open files went %d -> %d and goroutines %d -> %d: retries leak", fds1, fds2, g1, g2)
	}

	proxy.Restore(t)
	waitFor(t, 15*time.Second, "/readyz answers 200 once the database is back", func() bool { return ready() == http.StatusOK })
	phase.Store(phaseAfter)
	waitFor(t, 10*time.Second, "writes succeed again", func() bool {
		writes[phaseAfter].mu.Lock()
		defer writes[phaseAfter].mu.Unlock()
		return writes[phaseAfter].ok > 2
	})
	stop()
	wg.Wait()

	for p, name := range []string{"before", "during", "after"} {
		for _, c := range []struct {
			what string
			o    *outcomes
		}{{"tokens", &tokens[p]}, {"vault reads", &reads[p]}, {"gateway", &gw[p]}, {"writes", &writes[p]}} {
			t.Logf("%s the outage: %s: %s", name, c.what, c.o)
			if len(c.o.failed) > 0 {
				t.Errorf("%s the outage: %s failed: %s", name, c.what, c.o)
			}
		}
	}
	if writes503.Load() == 0 {
		t.Error("no write was answered 503 during the outage")
	}
	if reads[phaseDuring].ok == 0 || tokens[phaseDuring].ok == 0 || gw[phaseDuring].ok == 0 {
		t.Error("no load during the outage")
	}

	// Every successful read, those of the outage included, is audited.
	st2, err := postgres.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	want := int(readsTotal.Load()) + len(names) // the loads' reads and the first read of each
	got := 0
	waitFor(t, 15*time.Second, "the audit records of the outage's reads are replayed into the store", func() bool {
		recs, err := st2.ListAudit(context.Background(), vault.AuditQuery{Vault: vault.DefaultVault})
		if err != nil {
			return false
		}
		got = 0
		for _, rec := range recs {
			if rec.Operation == string(vault.PermSecretsGet) && rec.Outcome == vault.OutcomeSuccess && strings.HasPrefix(rec.Name, "s") {
				got++
			}
		}
		return got >= want
	})
	if got != want {
		t.Errorf("%d read records in the audit log, want %d", got, want)
	}
}

// openFiles counts the process's open file descriptors; 0 where /proc is
// not available (the check is then left out).
func openFiles(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Logf("cannot count open files here: %v", err)
		return 0
	}
	return len(es)
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}
