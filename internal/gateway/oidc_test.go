package gateway

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/gateway/proxy"
)

// startIssuer serves OIDC discovery and a JWKS with testRSA's public key
// on a loopback listener.
func startIssuer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	iss := "http://" + ln.Addr().String() + "/tenant-x/v2.0"
	mux := http.NewServeMux()
	mux.HandleFunc("/tenant-x/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": "http://" + ln.Addr().String() + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) {
		pub := testRSA.PublicKey
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "use": "sig", "kid": "k1", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}}})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return iss
}

func TestEvaluate_BearerFromAnOIDCIssuerSharedAcrossAPIsAndApplies(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Now = time.Now })
	iss := startIssuer(t)
	bearer := func(name, prefix string) (a directory.API) {
		a = apiKeyAPI("t1", name, prefix, "unused")
		a.Policy = guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Issuer: iss}}, Audiences: []string{"api://orders"}}}}
		return a
	}
	h.apply(t, bearer("one", "/one"))
	src := h.g.oidc.m[iss]
	tok := token(t, map[string]any{"iss": iss, "aud": "api://orders", "exp": time.Now().Add(time.Hour).Unix(), "sub": "s"})
	try := func(path string) Verdict {
		return h.g.Evaluate(request("GET", "https://h.test"+path, "Authorization", "Bearer "+tok), false)
	}
	waitFor(t, "the issuer's keys loaded", func() bool { return try("/one").Forward() })
	h.apply(t, bearer("one", "/one"), bearer("two", "/two"))
	if h.g.oidc.m[iss] != src {
		t.Error("a second API on the same issuer made a second key source")
	}
	if v := try("/two"); !v.Forward() {
		t.Errorf("second API: %d %s", v.Status, v.Body)
	}
	h.apply(t)
	if len(h.g.oidc.m) != 0 {
		t.Error("an unused issuer's key source is kept")
	}

	bad := bearer("bad", "/bad")
	bad.Policy.Methods[0].Issuers[0].Issuer = "http://login.example.com/x/v2.0"
	h.apply(t, bad)
	if ps := h.g.Problems(); len(ps) != 1 || !strings.Contains(ps[0].Reason, "must be https") {
		t.Errorf("problems %+v", ps)
	}
}

func TestDecider_DecidesNowUnlessTheAPITrustsAnOIDCIssuerAndABearerTokenCame(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Now = time.Now })
	wd, ok := h.g.Decider(false).(proxy.WaitingDecider)
	if !ok {
		t.Fatal("the gateway's Decider is not a proxy.WaitingDecider")
	}
	oidcAPI := apiKeyAPI("t1", "oidc", "/oidc", "unused")
	oidcAPI.Policy = guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Issuer: startIssuer(t)}}, Audiences: []string{"api://orders"}}}}
	h.apply(t, apiKeyAPI("t1", "keys", "/keys", "unused"), oidcAPI)
	tests := []struct {
		name, path, header, value string
		now                       bool
	}{
		{name: "bearer to an API without an OIDC issuer, while another trusts one", path: "/keys/x", header: "Authorization", value: "Bearer x.y.z", now: true},
		{name: "bearer to the API that trusts an issuer", path: "/oidc/x", header: "Authorization", value: "Bearer x.y.z"},
		{name: "scheme in another case", path: "/oidc/x", header: "Authorization", value: "bEARER x.y.z"},
		{name: "Basic to the API that trusts an issuer", path: "/oidc/x", header: "Authorization", value: "Basic dTpw", now: true},
		{name: "API key to the API that trusts an issuer", path: "/oidc/x", header: "X-Api-Key", value: "k", now: true},
		{name: "bearer to no API", path: "/none/x", header: "Authorization", value: "Bearer x.y.z", now: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := request("GET", "http://h.test"+tc.path, tc.header, tc.value)
			d, now := wd.DecideNow(r)
			if now != tc.now {
				t.Fatalf("DecideNow decided now = %v, want %v", now, tc.now)
			}
			if !now {
				if d.Done != nil || d.Upstream != nil || d.Status != 0 {
					t.Errorf("declined, yet decided %+v", d)
				}
				if got := r.Header.Get(tc.header); got != tc.value {
					t.Errorf("declined, yet %s is now %q", tc.header, got)
				}
				return
			}
			if d.Status == 0 && d.Upstream == nil {
				t.Errorf("decided nothing: %+v", d)
			}
			d.Done(proxy.Result{Status: d.Status})
		})
	}
}
