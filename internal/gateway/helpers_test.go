package gateway

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/logbuf"
	"github.com/portcullis/portcullis/internal/vault"
)

// fakeVault is the Vault seam over a map; set rotates a secret (a new
// version) and moves the revision as the real store does.
type fakeVault struct {
	mu      sync.Mutex
	rev     int64
	secrets map[string]fakeSecret // by vault/name
	certs   map[string]vault.ResolvedCertificate
	calls   int
	down    error // when set, Resolve fails with it (the vault's store is unreachable)
}

type fakeSecret struct{ value, version string }

func newFakeVault() *fakeVault {
	return &fakeVault{secrets: map[string]fakeSecret{}, certs: map[string]vault.ResolvedCertificate{}}
}

func (f *fakeVault) set(vaultName, name, value string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rev++
	ver := fmt.Sprintf("%032x", f.rev)
	f.secrets[vaultName+"/"+name] = fakeSecret{value, ver}
	return ver
}

func (f *fakeVault) Revision(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rev, nil
}

func (f *fakeVault) Resolve(_ context.Context, ref vault.Ref) (vault.Resolved, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down != nil {
		return vault.Resolved{}, f.down
	}
	key := ref.Vault + "/" + ref.Name
	if ref.Type == vault.Certificates {
		if c, ok := f.certs[key]; ok {
			return vault.Resolved{Ref: ref, Certificate: &c}, nil
		}
	} else if s, ok := f.secrets[key]; ok {
		ref.Version = s.version
		return vault.Resolved{Ref: ref, Secret: &vault.Secret{Vault: ref.Vault, Name: ref.Name, Version: s.version, Value: vault.NewStringValue(s.value)}}, nil
	}
	return vault.Resolved{}, &vault.Error{Kind: vault.KindNotFound, Code: "SecretNotFound", Message: fmt.Sprintf("A secret with (name/id) %s was not found in this key vault.", ref.Name)}
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log or audit sink the test reads while the server writes.
type syncBuffer = logbuf.Buffer

type harness struct {
	g     *Gateway
	vault *fakeVault
	clock *clock
	audit *syncBuffer
	logs  *syncBuffer
	reg   *prometheus.Registry
}

// newHarness starts a gateway over a fake vault; vault "kv" belongs to
// tenant "t1", vault "other" to tenant "t2".
func newHarness(t testing.TB, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{vault: newFakeVault(), clock: &clock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)},
		audit: &syncBuffer{}, logs: &syncBuffer{}, reg: prometheus.NewRegistry()}
	cfg := Config{
		Vault: h.vault,
		VaultTenant: func(v string) string {
			return map[string]string{"main": "t1", "foreign": "t2"}[v]
		},
		Now:     h.clock.now,
		Logger:  slog.New(slog.NewTextHandler(h.logs, nil)),
		Audit:   h.audit,
		Metrics: h.reg,
	}
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.g = g
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return h
}

func (h *harness) apply(t testing.TB, apis ...directory.API) {
	t.Helper()
	if err := h.g.Apply(apis); err != nil {
		t.Fatal(err)
	}
}

// settle waits until every reference of the served APIs has been
// resolved at least once.
func (h *harness) settle(t testing.TB) {
	t.Helper()
	waitFor(t, "references resolved", h.g.res.Settled)
	// The health of the APIs is updated right after the pass.
	waitFor(t, "health updated", func() bool {
		for _, a := range h.g.routes.Load().apis {
			if strings.Contains(a.problem(), "not resolved yet") {
				return false
			}
		}
		return true
	})
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling a condition, not waiting for time to pass
	}
}

func apiKeyAPI(tenant, name, prefix string, keys ...string) directory.API {
	spec := guard.MethodSpec{Type: guard.SpecAPIKey, Header: "x-functions-key", Query: "code"}
	for i, k := range keys {
		spec.Keys = append(spec.Keys, guard.APIKeySpec{Name: fmt.Sprintf("key%d", i+1), Secret: k})
	}
	return directory.API{TenantID: tenant, Name: name, Revision: 1,
		Match:   directory.APIMatch{PathPrefix: prefix},
		Backend: directory.Backend{URLs: []string{"http://127.0.0.1:9/"}},
		Policy:  guard.PolicySpec{Methods: []guard.MethodSpec{spec}}}
}

func basicAPI(tenant, name, prefix, user, ref string) directory.API {
	return directory.API{TenantID: tenant, Name: name, Revision: 1,
		Match:   directory.APIMatch{PathPrefix: prefix},
		Backend: directory.Backend{URLs: []string{"http://127.0.0.1:9/"}},
		Policy: guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecBasic,
			Users: []guard.BasicUserSpec{{Name: user, Password: ref}}}}}}
}

func request(method, target string, hdr ...string) *http.Request {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	r := &http.Request{Method: method, URL: u, Host: u.Host, Header: http.Header{}, RemoteAddr: "192.0.2.10:5555",
		Body: http.NoBody}
	r = r.WithContext(context.Background())
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (f *fakeVault) setCert(vaultName, name string, c *x509.Certificate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rev++
	f.certs[vaultName+"/"+name] = vault.ResolvedCertificate{Leaf: c}
}

func (f *fakeVault) setDown(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = err
	f.rev++
}

func (f *fakeVault) resolveCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// sourceKey is budgetKey(sourceAddr(remoteAddr)).
func sourceKey(remoteAddr string) netip.Addr { return budgetKey(sourceAddr(remoteAddr)) }
