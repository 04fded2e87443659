package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
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

// admittedAsZero is the status of a decision, 0 for an admission: the
// harness's APIs have no engine pool, so an admitted request is answered
// 503 with unavailableBody.
func admittedAsZero(d proxy.Decision) int {
	if d.Status == http.StatusServiceUnavailable && bytes.Equal(d.Body, unavailableBody) {
		return 0
	}
	return d.Status
}

func TestDecider_DecidesNowUnlessTheDecisionWouldWaitForAnOIDCIssuer(t *testing.T) {
	t.Parallel()
	var ahead atomic.Int64 // the gateway's clock runs ahead of the real one by this much
	h := newHarness(t, func(c *Config) { c.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) } })
	wd, ok := h.g.Decider(false).(proxy.WaitingDecider)
	if !ok {
		t.Fatal("the gateway's Decider is not a proxy.WaitingDecider")
	}
	iss := startIssuer(t)
	oidcAPI := apiKeyAPI("t1", "oidc", "/oidc", "unused")
	oidcAPI.Policy = guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Issuer: iss}}, Audiences: []string{"api://orders"}}}}
	h.apply(t, oidcAPI)
	claims := map[string]any{"iss": iss, "aud": "api://orders", "exp": time.Now().Add(time.Hour).Unix(), "sub": "s"}
	known, rotated := token(t, claims), tokenWithKid(t, "k2", claims)
	waitFor(t, "the issuer's keys loaded", func() bool {
		return h.g.Evaluate(request("GET", "http://h.test/oidc/x", "Authorization", "Bearer "+known), false).Forward()
	})

	// decideNow runs DecideNow and ends the exchange; it returns whether
	// it decided, and the status of the decision (0: admitted).
	decideNow := func(t *testing.T, path, header, value string) (bool, int) {
		t.Helper()
		r := request("GET", "http://h.test"+path, header, value)
		d, now := wd.DecideNow(r)
		if !now {
			if d.Done != nil || d.Upstream != nil || d.Status != 0 {
				t.Errorf("declined, yet decided %+v", d)
			}
			if got := r.Header.Get(header); got != value {
				t.Errorf("declined, yet %s is now %q", header, got)
			}
			return false, 0
		}
		if d.Done == nil {
			t.Fatalf("decided without Done: %+v", d)
		}
		d.Done(proxy.Result{Status: d.Status})
		return true, admittedAsZero(d)
	}
	for _, tc := range []struct {
		name, path, header, value string
		status                    int // of the decision taken now
	}{
		{name: "a token whose key is loaded", path: "/oidc/x", header: "Authorization", value: "Bearer " + known},
		{name: "scheme in another case", path: "/oidc/x", header: "Authorization", value: "bEARER " + known},
		{name: "not a token", path: "/oidc/x", header: "Authorization", value: "Bearer x.y.z", status: 401},
		{name: "Basic to the API that trusts an issuer", path: "/oidc/x", header: "Authorization", value: "Basic dTpw", status: 401},
		{name: "API key to the API that trusts an issuer", path: "/oidc/x", header: "X-Api-Key", value: "k", status: 401},
		{name: "bearer to no API", path: "/none/x", header: "Authorization", value: "Bearer " + known, status: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now, status := decideNow(t, tc.path, tc.header, tc.value)
			if !now || status != tc.status {
				t.Errorf("decided now = %v with %d, want now with %d", now, status, tc.status)
			}
		})
	}

	t.Run("a key not seen yet is fetched off the loop, then refused on it", func(t *testing.T) {
		// Past the least interval between two fetches, counted from the first load.
		ahead.Store(int64(guard.DefaultMinRefetchInterval + time.Second))
		if now, _ := decideNow(t, "/oidc/x", "Authorization", "Bearer "+rotated); now {
			t.Fatal("a token naming a key not seen yet was decided on the loop, which would have waited for the fetch")
		}
		// What the engine then does: Decide, which may wait (and joins the fetch started above).
		d := wd.Decide(request("GET", "http://h.test/oidc/x", "Authorization", "Bearer "+rotated))
		d.Done(proxy.Result{Status: d.Status})
		if d.Status != http.StatusUnauthorized {
			t.Fatalf("Decide: %d %s", d.Status, d.Body)
		}
		// Within the refetch interval nothing is fetched again: the refusal needs no waiting.
		if now, status := decideNow(t, "/oidc/x", "Authorization", "Bearer "+rotated); !now || status != http.StatusUnauthorized {
			t.Errorf("again: decided now = %v with %d, want now with 401", now, status)
		}
	})
}
