package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/pki"
)

// fakeGateway answers explain with a canned response and records what
// reached it.
type fakeGateway struct {
	status int
	body   string

	mu    sync.Mutex
	calls []explainCall
}

type explainCall struct{ tenant, name, body string }

func (g *fakeGateway) ExplainHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.calls = append(g.calls, explainCall{r.PathValue("tenant"), r.PathValue("name"), string(b)})
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(g.status)
		io.WriteString(w, g.body)
	})
}

func (g *fakeGateway) Listeners() []string {
	return []string{"https://127.0.0.1:8444", "http://127.0.0.1:8081"}
}

func (g *fakeGateway) Problems() []gateway.Problem {
	return []gateway.Problem{{TenantID: "t1", API: "orders", Reason: "vault://kv/secrets/pw does not resolve"}}
}

func (g *fakeGateway) lastCall() (explainCall, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.calls) == 0 {
		return explainCall{}, 0
	}
	return g.calls[len(g.calls)-1], len(g.calls)
}

const explainPath = "/admin/v1/tenants/default/apis/orders/explain"

func TestGatewayRoutes_AnswerServiceUnavailableWithoutAGateway(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ method, path string }{{"POST", explainPath}, {"GET", "/admin/v1/gateway"}} {
		r := e.do(c.method, c.path, map[string]any{})
		if c.method == "GET" {
			r = e.do(c.method, c.path, nil)
		}
		wantError(t, r, http.StatusServiceUnavailable, "ServiceUnavailable", "gateway is off", "--gateway-listen")
	}
}

func TestGatewayInfo_ListsListenersAndProblems(t *testing.T) {
	g := &fakeGateway{}
	e := newEnvWith(t, func(c *Config) { c.Gateway = g })
	got := strictDecode[gatewayInfoJSON](t, e.must(http.StatusOK, "GET", "/admin/v1/gateway", nil).body)
	want := gatewayInfoJSON{Listeners: g.Listeners(), Problems: []gatewayProblemJSON{{"t1", "orders", "vault://kv/secrets/pw does not resolve"}}}
	if jsonString(t, got) != jsonString(t, want) {
		t.Errorf("got %s, want %s", jsonString(t, got), jsonString(t, want))
	}
	raw := string(e.must(http.StatusOK, "GET", "/admin/v1/gateway", nil).body)
	if !strings.Contains(raw, `"tenantId":"t1","api":"orders","reason":`) {
		t.Errorf("wire names: %s", raw)
	}
}

func jsonString(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExplain_DelegatesToTheGatewayAfterTheAdminChecks(t *testing.T) {
	const result = `{"tenant":"t","api":"orders","steps":[{"phase":"authenticate","method":"basic","outcome":"absent"}],"allowed":false,"status":401,"error":"invalid_request"}`
	cases := []struct {
		name        string
		path        string
		body        any
		contentType string
		token       string
		gwStatus    int
		gwBody      string
		status      int
		want        string // in the body
		reached     bool   // the gateway was called
		gotBody     string // what the gateway read, when reached
	}{
		{name: "passes the answer through", path: explainPath, body: `{"method":"GET","path":"/orders"}`, gwStatus: 200, gwBody: result,
			status: 200, want: result, reached: true, gotBody: `{"method":"GET","path":"/orders"}`},
		{name: "an empty body is the default request", path: explainPath, body: "", contentType: "-", gwStatus: 200, gwBody: result,
			status: 200, want: result, reached: true, gotBody: `{}`},
		{name: "unknown tenant", path: "/admin/v1/tenants/nosuch/apis/orders/explain", body: `{}`,
			status: 404, want: `nosuch`},
		{name: "unknown API keeps the gateway's words in the admin shape", path: explainPath, body: `{}`, gwStatus: 404,
			gwBody: `{"error":"not_found","error_description":"no such API: tenant x has no API \"orders\" the gateway serves"}`,
			status: 404, want: `{"error":{"code":"NotFound","message":"no such API: tenant x has no API \"orders\" the gateway serves"}}`, reached: true},
		{name: "a bad body", path: explainPath, body: `{"paths":"/"}`, gwStatus: 400,
			gwBody: `{"error":"invalid_request","error_description":"unknown field \"paths\""}`,
			status: 400, want: `"code":"BadRequest","message":"unknown field \"paths\""`, reached: true},
		{name: "a gateway answer without an error body", path: explainPath, body: `{}`, gwStatus: 502, gwBody: `oops`,
			status: 500, want: `InternalError`, reached: true},
		{name: "over the gateway's limit", path: explainPath, body: `{"host":"` + strings.Repeat("h", 64<<10) + `"}`,
			status: 413, want: "64 KiB"},
		{name: "not JSON", path: explainPath, body: `{}`, contentType: "text/plain", status: 415, want: "UnsupportedMediaType"},
		{name: "no admin role", path: explainPath, body: `{}`, token: tokNoRole, status: 403, want: "Forbidden"},
		{name: "no token", path: explainPath, body: `{}`, token: "-", status: 401, want: "Unauthorized"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := &fakeGateway{status: c.gwStatus, body: c.gwBody}
			e := newEnvWith(t, func(cfg *Config) { cfg.Gateway = g })
			req := request{method: "POST", path: c.path, body: c.body, contentType: c.contentType, token: c.token}
			if c.token == "-" {
				req.token, req.noToken = "", true
			}
			r := e.send(req)
			if r.status != c.status || !strings.Contains(string(r.body), c.want) {
				t.Fatalf("%d %s; want %d with %s", r.status, r.body, c.status, c.want)
			}
			call, n := g.lastCall()
			if (n > 0) != c.reached {
				t.Fatalf("gateway called %d times, want reached=%v", n, c.reached)
			}
			if !c.reached {
				return
			}
			if call.tenant != e.tenant.ID || call.name != "orders" {
				t.Errorf("the gateway saw tenant %q, API %q; want the tenant's id %q and orders", call.tenant, call.name, e.tenant.ID)
			}
			if c.gotBody != "" && call.body != c.gotBody {
				t.Errorf("the gateway read %q, want %q", call.body, c.gotBody)
			}
			if r.status == 200 && string(r.body) != c.want {
				t.Errorf("body %q, want exactly %q", r.body, c.want)
			}
			if strings.Contains(e.logs.String(), "admin write") {
				t.Errorf("explain was audited as a write:\n%s", e.logs.String())
			}
		})
	}
}

// realGateway is the node's gateway with the listeners the server adds.
type realGateway struct {
	*gateway.Gateway
	listeners []string
}

func (g realGateway) Listeners() []string { return g.listeners }

// newRealGatewayEnv is an admin API over a real gateway serving one API,
// orders, that admits the returned certificate (pinned by thumbprint).
func newRealGatewayEnv(t testing.TB) (*env, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.SelfSigned(pkix.Name{CommonName: "orders-client"}, key, 24*time.Hour, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Raw)
	var tenants struct {
		sync.Mutex
		byName map[string]string
	}
	gw, err := gateway.New(gateway.Config{
		Logger: slog.New(slog.DiscardHandler),
		TenantID: func(s string) (string, bool) {
			tenants.Lock()
			defer tenants.Unlock()
			id, ok := tenants.byName[s]
			return id, ok
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close(context.Background()) })
	e := newEnvWith(t, func(c *Config) { c.Gateway = realGateway{gw, []string{"https://127.0.0.1:8444"}} })
	tenants.Lock()
	tenants.byName = map[string]string{e.tenant.ID: e.tenant.ID, "default": e.tenant.ID}
	tenants.Unlock()
	api := directory.API{TenantID: e.tenant.ID, Name: "orders", Revision: 1,
		Match:   directory.APIMatch{PathPrefix: "/orders"},
		Backend: directory.Backend{URLs: []string{"http://127.0.0.1:9/"}},
		Policy: guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecClientCertificate,
			Pins: []guard.CertificatePinSpec{{Thumbprint: hex.EncodeToString(sum[:])}}}}}}
	if err := gw.Apply([]directory.API{api}); err != nil {
		t.Fatal(err)
	}
	if p := gw.Problems(); len(p) != 0 {
		t.Fatalf("problems %+v", p)
	}
	return e, cert
}

func TestExplain_WithARealGateway(t *testing.T) {
	e, cert := newRealGatewayEnv(t)
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	res := strictDecode[gateway.ExplainResult](t, e.must(http.StatusOK, "POST", explainPath, gateway.ExplainRequest{Path: "/orders/1", Certificate: certPEM}).body)
	if !res.Allowed || res.Status != 200 || res.Principal == nil || res.Tenant != e.tenant.ID || len(res.Steps) == 0 {
		t.Errorf("with the pinned certificate: %+v", res)
	}
	res = strictDecode[gateway.ExplainResult](t, e.must(http.StatusOK, "POST", explainPath, gateway.ExplainRequest{Path: "/orders/1"}).body)
	if res.Allowed || res.Status != http.StatusUnauthorized || res.Steps[0].Outcome != "absent" {
		t.Errorf("without a certificate: %+v", res)
	}
	wantError(t, e.do("POST", "/admin/v1/tenants/default/apis/billing/explain", map[string]any{}), http.StatusNotFound, "NotFound", "billing")
	wantError(t, e.do("POST", explainPath, map[string]any{"path": "orders"}), http.StatusBadRequest, "BadRequest", "absolute path")
}

// FuzzExplainBody sends any body to the explain operation over a real
// gateway: never a 5xx, errors in the contract's shape, and nothing of the
// headers' values echoed.
func FuzzExplainBody(f *testing.F) {
	e, _ := newRealGatewayEnv(f)
	for _, s := range []string{`{}`, `{"method":"POST","path":"/orders/1?x=y","host":"h","headers":{"Authorization":["Bearer Zq7canary"]}}`,
		`{"path":"orders"}`, `{"headers":{"X":["a\r\nb"]}}`, `{"certificate":"-----BEGIN CERTIFICATE-----\nZq7canary\n-----END CERTIFICATE-----"}`,
		`[]`, `{"method":""}`, `{"headers":{"":["Zq7canary"]}}`, `null`, `{"path":"/%zz"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, explainPath, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokAdmin)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.mux.ServeHTTP(rec, req)
		r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
		if r.status >= 500 {
			t.Fatalf("%d for %q: %s", r.status, body, r.body)
		}
		if r.status != http.StatusOK {
			var eb errorBody
			if json.Unmarshal(r.body, &eb) != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("%d without the error shape: %s", r.status, r.body)
			}
		}
		if strings.Contains(string(r.body), "Zq7canary") {
			t.Fatalf("the answer echoes a credential: %s", r.body)
		}
	})
}
