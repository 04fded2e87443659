package guard

import (
	"cmp"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// testSecret is a SecretRef whose value the test moves on.
type testSecret struct{ v atomic.Pointer[SecretValue] }

func newSecret(value, version string) *testSecret {
	s := &testSecret{}
	s.set(value, version)
	return s
}

func (s *testSecret) Current() *SecretValue { return s.v.Load() }

func (s *testSecret) set(value, version string) {
	if version == "" {
		s.v.Store(nil)
		return
	}
	s.v.Store(&SecretValue{Value: []byte(value), Version: version})
}

type resolvedIssuer struct {
	iss  string
	keys KeySource
}

// testResolver resolves secrets and certificates from maps, PEM text as
// itself, and issuers by tenant or URL.
type testResolver struct {
	secrets map[string]*testSecret
	certs   map[string][]*x509.Certificate
	issuers map[string]resolvedIssuer
}

func (tr *testResolver) Secret(ref string) (SecretRef, error) {
	s, ok := tr.secrets[ref]
	if !ok {
		return nil, fmt.Errorf("secret %q does not exist", ref)
	}
	return s, nil
}

func (tr *testResolver) Certificates(ref string) ([]*x509.Certificate, error) {
	if strings.HasPrefix(ref, "-----BEGIN") {
		var out []*x509.Certificate
		rest := []byte(ref)
		for {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	}
	c, ok := tr.certs[ref]
	if !ok {
		return nil, fmt.Errorf("certificate %q does not exist", ref)
	}
	return c, nil
}

func (tr *testResolver) Issuer(spec IssuerSpec) (string, KeySource, error) {
	is, ok := tr.issuers[cmp.Or(spec.Tenant, spec.Issuer)]
	if !ok {
		return "", nil, fmt.Errorf("issuer %q is not known", cmp.Or(spec.Tenant, spec.Issuer))
	}
	return is.iss, is.keys, nil
}

func mustSpec(t testing.TB, js string) PolicySpec {
	t.Helper()
	var s PolicySpec
	dec := json.NewDecoder(strings.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("spec: %v", err)
	}
	return s
}

func mustCompile(t testing.TB, js string, res SpecResolver, opts CompileOptions) Policy {
	t.Helper()
	p, err := CompilePolicy(mustSpec(t, js), res, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// decision is what a test expects of Decide and Explain.
type decision struct {
	status   int    // 0: admitted
	code     string // error code when refused
	desc     string // part of the description, or of the admitted Subject/CredentialID
	outcomes string // the Explanation's outcomes, space-separated
}

// checkDecision runs Explain on a clone of r and Decide on r, and checks
// both against want; no secret may appear in the Explanation. It returns
// the Principal.
func checkDecision(t *testing.T, p Policy, r *http.Request, want decision, secrets ...string) *Principal {
	t.Helper()
	ex := p.Explain(r.Clone(r.Context()))
	pr, e := p.Decide(r)
	switch {
	case want.status == 0 && e != nil:
		t.Fatalf("refused: %d %v", e.Status, e)
	case want.status == 0:
		if got := pr.Subject + " " + pr.CredentialID; !strings.Contains(got, want.desc) {
			t.Errorf("admitted as %q, want %q", got, want.desc)
		}
	case e == nil:
		t.Fatalf("admitted as %+v; want %d", pr, want.status)
	default:
		if e.Status != want.status || e.Code != want.code || !strings.Contains(e.Description, want.desc) {
			t.Errorf("refused with %d %q %q; want %d %q containing %q", e.Status, e.Code, e.Description, want.status, want.code, want.desc)
		}
		if pr != nil {
			t.Errorf("Decide returned a principal with its refusal")
		}
	}
	if (ex.Err == nil) != (e == nil) || e != nil && (ex.Err.Status != e.Status || ex.Err.Description != e.Description) {
		t.Errorf("Explain decided %v, Decide %v", ex.Err, e)
	}
	var outs []string
	for _, s := range ex.Steps {
		outs = append(outs, s.Outcome)
		if s.Phase != PhaseAuthenticate && s.Phase != PhaseAuthorize || s.Phase == PhaseAuthenticate && s.Method == "" || s.Phase == PhaseAuthorize && s.Rule == "" || s.Detail == "" {
			t.Errorf("incomplete step %+v", s)
		}
	}
	if got := strings.Join(outs, " "); got != want.outcomes {
		t.Errorf("Explain outcomes %q, want %q (steps %+v)", got, want.outcomes, ex.Steps)
	}
	js, err := json.Marshal(ex)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(string(js), s) {
			t.Errorf("the Explanation contains the credential %q: %s", s, js)
		}
	}
	return pr
}

func basicAuth(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

const basicSpec = `{"realm":"orders","methods":[{"type":"basic","users":[
	{"name":"alice","password":"vault://v/secrets/alice"},
	{"name":"bob","password":"vault://v/secrets/bob"}]}]}`

func TestCompilePolicy_BasicRefusesForgeriesAndFollowsRotation(t *testing.T) {
	alice, bob := newSecret("correct horse", "v1"), newSecret("battery staple", "b1")
	res := &testResolver{secrets: map[string]*testSecret{"vault://v/secrets/alice": alice, "vault://v/secrets/bob": bob}}
	p := mustCompile(t, basicSpec, res, CompileOptions{})
	if p.Realm != "orders" {
		t.Errorf("realm %q", p.Realm)
	}
	secrets := []string{"correct horse", "battery staple", base64.StdEncoding.EncodeToString([]byte("alice:correct horse"))}
	tests := []struct {
		name string
		auth []string
		want decision
	}{
		{"alice", []string{basicAuth("alice", "correct horse")}, decision{0, "", "basic:alice@v1", "admitted"}},
		{"bob", []string{basicAuth("bob", "battery staple")}, decision{0, "", "basic:bob@b1", "admitted"}},
		{"password of the other user", []string{basicAuth("alice", "battery staple")}, decision{401, CodeInvalidToken, "user name or password is not correct", "refused"}},
		{"wrong password", []string{basicAuth("alice", "correct horse!")}, decision{401, CodeInvalidToken, "user name or password is not correct", "refused"}},
		{"unknown user", []string{basicAuth("mallory", "correct horse")}, decision{401, CodeInvalidToken, "user name or password is not correct", "refused"}},
		{"user name case", []string{basicAuth("Alice", "correct horse")}, decision{401, CodeInvalidToken, "user name or password is not correct", "refused"}},
		{"no colon", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("alicecorrect horse"))}, decision{400, CodeInvalidRequest, "no ':'", "refused"}},
		{"bad base64", []string{"Basic abc"}, decision{400, CodeInvalidRequest, "not base64", "refused"}},
		{"non-UTF-8", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("al\xffice:x"))}, decision{400, CodeInvalidRequest, "UTF-8", "refused"}},
		{"huge header", []string{basicAuth("alice", strings.Repeat("x", 5000))}, decision{400, CodeInvalidRequest, "at most 4096", "refused"}},
		{"two headers", []string{basicAuth("alice", "correct horse"), basicAuth("bob", "battery staple")}, decision{400, CodeInvalidRequest, "2 Authorization headers", "refused"}},
		{"no credentials", nil, decision{401, "", "send Authorization: Basic", "absent"}},
		{"bearer instead", []string{"Bearer abc"}, decision{401, "", "send Authorization: Basic", "absent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "https://api.test/orders", nil)
			for _, a := range tt.auth {
				r.Header.Add("Authorization", a)
			}
			checkDecision(t, p, r, tt.want, secrets...)
			if tt.want.status != 0 && tt.want.status != 503 {
				w := httptest.NewRecorder()
				Middleware(http.NotFoundHandler(), p).ServeHTTP(w, r)
				if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, `Basic realm="orders"`) {
					t.Errorf("challenge %q", got)
				}
			}
		})
	}

	t.Run("rotation", func(t *testing.T) {
		req := func(pw string) *http.Request {
			r := httptest.NewRequest(http.MethodGet, "https://api.test/orders", nil)
			r.Header.Set("Authorization", basicAuth("alice", pw))
			return r
		}
		alice.set("tr0ub4dor", "v2")
		checkDecision(t, p, req("correct horse"), decision{401, CodeInvalidToken, "not correct", "refused"}, "correct horse")
		checkDecision(t, p, req("tr0ub4dor"), decision{0, "", "basic:alice@v2", "admitted"}, "tr0ub4dor")
		alice.set("", "") // the secret cannot be read: 503, never 401
		checkDecision(t, p, req("tr0ub4dor"), decision{503, CodeTemporarilyUnavailable, "cannot be read now", "refused"}, "tr0ub4dor")
	})
}

const apiKeySpec = `{"methods":[{"type":"apiKey","header":"x-functions-key","query":"code","keys":[
	{"name":"orders-current","secret":"vault://v/secrets/k1"},
	{"name":"orders-next","secret":"vault://v/secrets/k2"}]}]}`

func TestCompilePolicy_APIKeyPlacesRolloverAndStripping(t *testing.T) {
	k1, k2 := newSecret("key-one", "1"), newSecret("key-two", "2")
	res := &testResolver{secrets: map[string]*testSecret{"vault://v/secrets/k1": k1, "vault://v/secrets/k2": k2}}
	p := mustCompile(t, apiKeySpec, res, CompileOptions{})
	headerOnly := mustCompile(t, `{"methods":[{"type":"apiKey","header":"X-Functions-Key","keys":[{"name":"orders-current","secret":"vault://v/secrets/k1"}]}]}`, res, CompileOptions{})

	tests := []struct {
		name      string
		p         Policy
		query     string
		header    []string
		want      decision
		wantQuery string
	}{
		{"header", p, "a=1", []string{"key-one"}, decision{0, "", "apiKey:orders-current@1", "admitted"}, "a=1"},
		{"query, rollover key", p, "code=key-two", nil, decision{0, "", "apiKey:orders-next@2", "admitted"}, ""},
		{"query order and encoding kept", p, "b=%2Fx+y&code=key-one&a=1&&c", nil, decision{0, "", "orders-current", "admitted"}, "b=%2Fx+y&a=1&&c"},
		{"encoded parameter name", p, "co%64e=key-one&z=%7E", nil, decision{0, "", "orders-current", "admitted"}, "z=%7E"},
		{"encoded key", p, "code=key%2Done", nil, decision{0, "", "orders-current", "admitted"}, ""},
		{"both places, same key", p, "code=key-one", []string{"key-one"}, decision{0, "", "orders-current", "admitted"}, ""},
		{"both places, different keys", p, "x=1&code=key-two", []string{"key-one"}, decision{400, CodeInvalidRequest, "in both the X-Functions-Key header and the query parameter code, with different values", "refused"}, "x=1"},
		{"header twice", p, "", []string{"key-one", "key-one"}, decision{400, CodeInvalidRequest, "2 X-Functions-Key headers", "refused"}, ""},
		{"query twice", p, "code=key-one&q=1&code=key-one", nil, decision{400, CodeInvalidRequest, "parameter code 2 times", "refused"}, "q=1"},
		{"trailing space in the header", p, "", []string{"key-one "}, decision{400, CodeInvalidRequest, "leading or trailing whitespace", "refused"}, ""},
		{"leading space in the query", p, "code=%20key-one", nil, decision{400, CodeInvalidRequest, "the query parameter code has leading or trailing whitespace", "refused"}, ""},
		{"empty", p, "code=", nil, decision{400, CodeInvalidRequest, "the query parameter code is empty", "refused"}, ""},
		{"bad percent-encoding", p, "code=key%zz&a=1", nil, decision{400, CodeInvalidRequest, "not valid percent-encoding", "refused"}, "a=1"},
		{"wrong key", p, "code=key-three", nil, decision{401, CodeInvalidToken, "the API key in the query parameter code is not valid", "refused"}, ""},
		{"no key", p, "a=1", nil, decision{401, "", "send X-Functions-Key: <API key> (or the query parameter code=<API key>)", "absent"}, "a=1"},
		{"wrong place: query for a header key", headerOnly, "code=key-one", nil, decision{401, "", "send X-Functions-Key", "absent"}, "code=key-one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := "/orders"
			if tt.query != "" {
				u += "?" + tt.query
			}
			r := httptest.NewRequest(http.MethodGet, u, nil)
			for _, h := range tt.header {
				r.Header.Add("X-Functions-Key", h)
			}
			checkDecision(t, tt.p, r, tt.want, "key-one", "key-two", "key-three")
			if got := r.URL.RawQuery; got != tt.wantQuery {
				t.Errorf("query after: %q, want %q", got, tt.wantQuery)
			}
			wantURI := "/orders"
			if tt.wantQuery != "" {
				wantURI += "?" + tt.wantQuery
			}
			if r.RequestURI != wantURI {
				t.Errorf("RequestURI after: %q, want %q", r.RequestURI, wantURI)
			}
			if len(tt.header) > 0 && r.Header.Values("X-Functions-Key") != nil {
				t.Errorf("the key header reached the backend: %q", r.Header.Values("X-Functions-Key"))
			}
		})
	}

	t.Run("rotation", func(t *testing.T) {
		req := func(key string) *http.Request {
			r := httptest.NewRequest(http.MethodGet, "https://api.test/orders", nil)
			r.Header.Set("X-Functions-Key", key)
			return r
		}
		k1.set("key-one-rotated", "3")
		checkDecision(t, p, req("key-one"), decision{401, CodeInvalidToken, "not valid", "refused"}, "key-one")
		checkDecision(t, p, req("key-one-rotated"), decision{0, "", "apiKey:orders-current@3", "admitted"}, "key-one-rotated")
		checkDecision(t, p, req("key-two"), decision{0, "", "apiKey:orders-next@2", "admitted"}, "key-two")
		k1.set("", "")
		// A key that cannot be read might be the caller's: 503, not 401.
		checkDecision(t, p, req("key-one-rotated"), decision{503, CodeTemporarilyUnavailable, "cannot be read now", "refused"}, "key-one-rotated")
		checkDecision(t, p, req("key-two"), decision{0, "", "orders-next", "admitted"}, "key-two")
	})
}

func TestCompilePolicy_RulesAnyAndAll(t *testing.T) {
	fx := newVerifierFixture(t, nil)
	res := &testResolver{issuers: map[string]resolvedIssuer{"contoso": {testIss, fx.keys}}}
	spec := func(require string) string {
		return `{"methods":[{"type":"bearer","issuers":[{"tenant":"contoso"}],"audiences":["` + testAud + `"]}],
			"rules":{"roles":["Orders.Read","Orders.Write"],"scopes":["orders"],"require":"` + require + `","tenants":["C0FFEE00-0000-0000-0000-000000000001"]}}`
	}
	anyP := mustCompile(t, spec("any"), res, CompileOptions{Now: fx.clock.Now})
	allP := mustCompile(t, spec("all"), res, CompileOptions{Now: fx.clock.Now})
	tok := func(roles []string, scp string) string {
		c := with(validClaims(), "roles", roles)
		if scp != "" {
			c["scp"] = scp
		}
		return signJWT(t, rsaA, rs256("a"), c)
	}
	reader, all, allButScope := tok([]string{"Orders.Read"}, ""), tok([]string{"Orders.Read", "Orders.Write"}, "orders profile"), tok([]string{"Orders.Write", "Orders.Read"}, "")
	otherTenant := signJWT(t, rsaA, rs256("a"), with(validClaims(), "tid", "deadbeef-0000-0000-0000-000000000009"))
	tests := []struct {
		name string
		p    Policy
		tok  string
		want decision
	}{
		{"any: one role", anyP, reader, decision{0, "", "9b1c-sub", "admitted held held"}},
		{"any: nothing", anyP, tok(nil, "profile"), decision{403, CodeInsufficientScope, "one of the roles [Orders.Read Orders.Write] or one of the scopes [orders]", "admitted held failed"}},
		{"all: every role and scope", allP, all, decision{0, "", "9b1c-sub", "admitted held held"}},
		{"all: one role only", allP, reader, decision{403, CodeInsufficientScope, "lacks the roles [Orders.Write] and the scopes [orders]", "admitted held failed"}},
		{"all: scope missing", allP, allButScope, decision{403, CodeInsufficientScope, "lacks the scopes [orders];", "admitted held failed"}},
		{"tenant not allowed", allP, otherTenant, decision{401, CodeInvalidToken, "tenant \"deadbeef", "admitted failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "https://api.test/orders", nil)
			r.Header.Set("Authorization", "Bearer "+tt.tok)
			checkDecision(t, tt.p, r, tt.want, tt.tok)
		})
	}
}

func TestCompilePolicy_ErrorsNameTheJSONPath(t *testing.T) {
	res := &testResolver{
		secrets: map[string]*testSecret{"s": newSecret("x", "1")},
		issuers: map[string]resolvedIssuer{"contoso": {testIss, newFakeKeys()}, "contoso-again": {testIss, newFakeKeys()}},
	}
	tests := []struct{ spec, want string }{
		{`{"methods":[]}`, "policy.methods is empty"},
		{`{"methods":[{"type":"basic","users":[{"name":"a","password":"s"},{"name":"a","password":"s"}]}]}`, "policy.methods[0].users[1].name \"a\": the user is listed twice"},
		{`{"methods":[{"type":"basic","users":[{"name":"a","password":"s"}]},{"type":"apiKey","header":"k","keys":[{"name":"k","secret":"s"},{"name":"j","secret":"missing"}]}]}`, `policy.methods[1].keys[1].secret: secret "missing" does not exist`},
		{`{"methods":[{"type":"apiKey","header":"bad header","keys":[{"name":"k","secret":"s"}]}]}`, "policy.methods[0].header \"bad header\": not a valid header name"},
		{`{"methods":[{"type":"apiKey","query":"code","keys":[{"name":"k","secret":"s"},{"name":"k","secret":"s"}]}]}`, "policy.methods[0].keys[1].name \"k\": the name is used twice"},
		{`{"methods":[{"type":"clientCertificate","pins":[{"thumbprint":"abcd"}]}]}`, "policy.methods[0].pins[0].thumbprint: not a SHA-1 (40 hex digits) or SHA-256"},
		{`{"methods":[{"type":"clientCertificate","trustedCAs":["vault://v/certificates/none"]}]}`, `policy.methods[0].trustedCAs[0]: certificate "vault://v/certificates/none" does not exist`},
		{`{"methods":[{"type":"clientCertificate","trustedCAs":["-----BEGIN NOTHING"]}]}`, "policy.methods[0].trustedCAs[0]: no certificate found"},
		{`{"methods":[{"type":"bearer","issuers":[{"tenant":"fabrikam"}],"audiences":["a"]}]}`, `policy.methods[0].issuers[0]: issuer "fabrikam" is not known`},
		{`{"methods":[{"type":"bearer","issuers":[{"tenant":"contoso"},{"tenant":"contoso-again"}],"audiences":["a"]}]}`, "policy.methods[0].issuers[1]: issuer \"https://issuer.test/contoso/v2.0\" is listed twice"},
		{`{"methods":[{"type":"bearer","issuers":[{"tenant":"contoso"}],"audiences":["a",""]}]}`, "policy.methods[0].audiences[1] is empty"},
		{`{"methods":[{"type":"bearer","issuers":[{"tenant":"contoso"}],"audiences":["a"],"algorithms":["RS256","HS256"]}]}`, `policy.methods[0].algorithms[1] "HS256": not accepted`},
		{`{"methods":[{"type":"bearer","issuers":[{"tenant":"contoso"}],"audiences":["a"],"algorithms":["none"]}]}`, `policy.methods[0].algorithms[0] "none": not accepted`},
		{`{"methods":[{"type":"basic","users":[{"name":"a","password":"s"}]}],"rules":{"require":"most"}}`, `policy.rules.require "most"`},
		{`{"anonymous":true,"methods":[{"type":"basic","users":[{"name":"a","password":"s"}]}]}`, "policy.anonymous admits every caller without a credential, so policy.methods and policy.rules must be empty"},
		{`{"anonymous":true,"rules":{"roles":["Orders.Read"]}}`, "policy.anonymous admits every caller"},
	}
	for _, tt := range tests {
		_, err := CompilePolicy(mustSpec(t, tt.spec), res, CompileOptions{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n got %v\nwant %q", tt.spec, err, tt.want)
		}
	}
	if _, err := CompilePolicy(mustSpec(t, basicSpec), nil, CompileOptions{}); err == nil {
		t.Error("no resolver: no error")
	}
	typedNil := &testResolver{secrets: map[string]*testSecret{"vault://v/secrets/alice": nil, "vault://v/secrets/bob": newSecret("x", "1")}}
	if _, err := CompilePolicy(mustSpec(t, basicSpec), typedNil, CompileOptions{}); err == nil || !strings.Contains(err.Error(), "policy.methods[0].users[0].password: the resolver returned no secret") {
		t.Errorf("typed-nil secret: %v", err)
	}
}

func TestDecide_MiddlewareUsesTheSameDecision(t *testing.T) {
	k1 := newSecret("key-one", "1")
	res := &testResolver{secrets: map[string]*testSecret{"vault://v/secrets/k1": k1, "vault://v/secrets/k2": newSecret("key-two", "2")}}
	p := mustCompile(t, apiKeySpec, res, CompileOptions{})
	var refused []*Error
	p.OnRefusal = func(_ *http.Request, _ *Principal, e *Error) { refused = append(refused, e) }
	var backend *http.Request
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backend = r
		pr, _ := PrincipalFrom(r.Context())
		fmt.Fprint(w, pr.Subject)
	}), p)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/orders?code=key-one&page=2", nil))
	if w.Code != 200 || w.Body.String() != "orders-current" || backend.URL.RawQuery != "page=2" || backend.RequestURI != "/orders?page=2" {
		t.Fatalf("%d %q; backend saw %q %q", w.Code, w.Body, backend.URL.RawQuery, backend.RequestURI)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/orders?code=nope", nil))
	if w.Code != 401 || len(refused) != 1 || !errors.Is(AsError(refused[0]), refused[0]) || !strings.Contains(w.Body.String(), "not valid for this API") {
		t.Fatalf("%d %s, refusals %v", w.Code, w.Body, refused)
	}
	if slices.ContainsFunc(refused, func(e *Error) bool { return strings.Contains(e.Description, "nope") }) {
		t.Error("the refusal quotes the key")
	}
}

func TestDecide_APIKeyIsRemovedEvenWhenAnEarlierMethodDecides(t *testing.T) {
	fx := newVerifierFixture(t, nil)
	res := &testResolver{
		secrets: map[string]*testSecret{"k": newSecret("key-one", "1")},
		issuers: map[string]resolvedIssuer{"contoso": {testIss, fx.keys}},
	}
	p := mustCompile(t, `{"methods":[
		{"type":"bearer","issuers":[{"tenant":"contoso"}],"audiences":["`+testAud+`"]},
		{"type":"apiKey","header":"x-functions-key","query":"code","keys":[{"name":"k","secret":"k"}]}]}`, res, CompileOptions{Now: fx.clock.Now})
	good := signJWT(t, rsaA, rs256("a"), validClaims())
	for _, tok := range []string{good, good + "x"} {
		r := httptest.NewRequest(http.MethodGet, "/orders?a=1&co%64e=key-one", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("X-Functions-Key", "key-one")
		want := decision{0, "", "9b1c-sub", "admitted"}
		if tok != good {
			want = decision{401, CodeInvalidToken, "signature", "refused"}
		}
		checkDecision(t, p, r, want, "key-one")
		if r.URL.RawQuery != "a=1" || r.Header.Get("X-Functions-Key") != "" {
			t.Errorf("the key survived: %q %q", r.URL.RawQuery, r.Header.Get("X-Functions-Key"))
		}
	}
}

func TestDecide_BasicPasswordIsRemovedWhenAnEarlierMethodAdmits(t *testing.T) {
	res := &testResolver{secrets: map[string]*testSecret{"k": newSecret("key-one", "1"), "pw": newSecret("hunter2", "1")}}
	p := mustCompile(t, `{"methods":[
		{"type":"apiKey","header":"x-functions-key","keys":[{"name":"k","secret":"k"}]},
		{"type":"basic","users":[{"name":"alice","password":"pw"}]}]}`, res, CompileOptions{})
	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	r.Header.Set("X-Functions-Key", "key-one")
	r.SetBasicAuth("alice", "hunter2")
	if pr, e := p.Decide(r); e != nil || pr.Method != MethodAPIKey {
		t.Fatalf("Decide = %+v, %v; want admitted by the API key", pr, e)
	}
	if got := r.Header.Get("Authorization"); got != "" {
		t.Errorf("the Basic password would reach the backend: Authorization %q", got)
	}
}

func TestCompilePolicy_AnonymousAdmitsEveryRequestAsAnonymous(t *testing.T) {
	p, err := CompilePolicy(mustSpec(t, `{"anonymous":true}`), &testResolver{}, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	r.Header.Set("Authorization", "Bearer not-even-a-token")
	pr, e := p.Decide(r)
	if e != nil || pr == nil || pr.Method != MethodAnonymous {
		t.Fatalf("Decide = %+v, %v; want the anonymous principal", pr, e)
	}
	ex := p.Explain(r)
	if len(ex.Steps) != 1 || ex.Steps[0].Method != "anonymous" || ex.Steps[0].Outcome != OutcomeAdmitted {
		t.Fatalf("Explain steps = %+v", ex.Steps)
	}
}
