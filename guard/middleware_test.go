package guard

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// refusals records what OnRefusal was told.
type refusals struct {
	mu  sync.Mutex
	log []string
}

func (rf *refusals) record(r *http.Request, p *Principal, err *Error) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	who := "-"
	if p != nil {
		who = p.AppID
	}
	rf.log = append(rf.log, fmt.Sprintf("%d %s %s: %s", err.Status, who, err.Code, err.Description))
}

func (rf *refusals) last() string {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if len(rf.log) == 0 {
		return ""
	}
	return rf.log[len(rf.log)-1]
}

func TestMiddleware_ProtectsAnAPIOverRealTLS(t *testing.T) {
	testKeys(t)
	ti := newTestIssuer(t)
	ti.publish("a", &rsaA.PublicKey)
	c := newClock()
	_, v := newOIDCVerifier(t, ti, c)
	var rf refusals
	api := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			http.Error(w, "no principal", 500)
			return
		}
		fmt.Fprintf(w, "hello %s", p.AppID)
	}), Policy{
		Authenticators: []Authenticator{Bearer(v)},
		Rules:          Rules{Roles: []string{"Orders.Read"}},
		Realm:          "orders",
		OnRefusal:      rf.record,
	})
	base, client := serveTLS(t, api, nil)
	claims := with(validClaims(), "iss", ti.URL)
	reader := signJWT(t, rsaA, rs256("a"), claims)
	writer := signJWT(t, rsaA, rs256("a"), with(claims, "roles", []string{"Orders.Write"}))
	forged := signJWT(t, rsaEvil, rs256("a"), claims)

	tests := []struct {
		name      string
		auth      []string
		status    int
		challenge string
		body      string
		refusal   string
	}{
		{"reader", []string{"Bearer " + reader}, 200, "", "hello a1a1a1a1-0000-0000-0000-000000000002", ""},
		{"lower-case scheme", []string{"bearer " + reader}, 200, "", "hello", ""},
		{"no token", nil, 401, `Bearer realm="orders"`, `"error":"unauthorized"`, "401 - : no credentials"},
		{"role missing", []string{"Bearer " + writer}, 403, `Bearer realm="orders", error="insufficient_scope", error_description="the caller carries roles [Orders.Write]`, `"error":"insufficient_scope"`, "403 a1a1a1a1-0000-0000-0000-000000000002 insufficient_scope"},
		{"forged signature", []string{"Bearer " + forged}, 401, `error="invalid_token", error_description="the token's signature is not valid`, `"error":"invalid_token"`, "401 - invalid_token: the token's signature is not valid"},
		{"two Authorization headers", []string{"Bearer " + reader, "Bearer " + reader}, 400, `error="invalid_request"`, "2 Authorization headers", "400 - invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, base+"/orders", nil)
			for _, a := range tt.auth {
				req.Header.Add("Authorization", a)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.body) {
				t.Fatalf("got %d %s; want %d containing %q", resp.StatusCode, body, tt.status, tt.body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, tt.challenge) {
				t.Errorf("WWW-Authenticate %q\nwant it to contain %q", got, tt.challenge)
			}
			if tt.status != 200 {
				var b struct {
					Error       string `json:"error"`
					Description string `json:"error_description"`
				}
				if json.Unmarshal(body, &b) != nil || b.Error == "" || b.Description == "" || resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("body %s or Cache-Control %q", body, resp.Header.Get("Cache-Control"))
				}
				last := rf.last()
				if !strings.Contains(last, tt.refusal) {
					t.Errorf("OnRefusal got %q, want %q", last, tt.refusal)
				}
				for _, a := range tt.auth {
					tok := strings.TrimPrefix(a, "Bearer ")
					if strings.Contains(last, tok[len(tok)-30:]) || strings.Contains(string(body), tok[len(tok)-30:]) {
						t.Error("the refusal contains the token")
					}
				}
			}
		})
	}
}

func TestMiddleware_KeySourceNeverLoadedIs503(t *testing.T) {
	testKeys(t)
	ti := newTestIssuer(t)
	ti.publish("a", &rsaA.PublicKey)
	ti.configure(func(ti *testIssuer) { ti.status = http.StatusBadGateway })
	_, v := newOIDCVerifier(t, ti, newClock())
	api := Middleware(http.NotFoundHandler(), Policy{Authenticators: []Authenticator{Bearer(v)}, Realm: "orders"})
	req, _ := http.NewRequest(http.MethodGet, "/orders", nil)
	req.Header.Set("Authorization", "Bearer "+signJWT(t, rsaA, rs256("a"), with(validClaims(), "iss", ti.URL)))
	w := httptest.NewRecorder()
	api.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "temporarily_unavailable") || w.Header().Get("Retry-After") == "" {
		t.Errorf("got %d %s %v", w.Code, w.Body.String(), w.Header())
	}
}

func TestMiddleware_AuthorizeHookRunsAfterRules(t *testing.T) {
	f := newVerifierFixture(t, nil)
	deleted := map[string]bool{"a1a1a1a1-0000-0000-0000-000000000002": true}
	api := Middleware(http.NotFoundHandler(), Policy{
		Authenticators: []Authenticator{Bearer(f.v)},
		Authorize: func(r *http.Request, p *Principal) error {
			if deleted[p.AppID] {
				return &Error{Status: 401, Code: CodeInvalidToken, Description: "the client application no longer exists"}
			}
			return nil
		},
	})
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+signJWT(t, rsaA, rs256("a"), validClaims()))
	w := httptest.NewRecorder()
	api.ServeHTTP(w, req)
	if w.Code != 401 || !strings.Contains(w.Body.String(), "no longer exists") {
		t.Errorf("got %d %s", w.Code, w.Body.String())
	}
}

func TestMiddleware_PanicsOnAPolicyThatCannotWork(t *testing.T) {
	for name, p := range map[string]Policy{
		"no authenticators": {},
		"nil authenticator": {Authenticators: []Authenticator{nil}},
		"bad thumbprint":    {Authenticators: []Authenticator{AuthenticatorFunc(func(*http.Request) (*Principal, error) { return nil, ErrNoCredentials })}, Rules: Rules{CertificateThumbprints: []string{"x"}}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			Middleware(http.NotFoundHandler(), p)
		})
	}
}
