package connector_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/connector"
	"github.com/portcullis/portcullis/internal/directory"
)

const connectorPassword = "Conn~password-9f2e7a"

func TestInvoke_EveryResponseClassOfTheContract(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setSecret(t, "connector-pw", connectorPassword)
	big := strings.Repeat("x", connector.MaxResponseBytes+10)
	for _, c := range []struct {
		name     string
		h        http.HandlerFunc
		decision connector.Decision
		message  string
		claims   map[string]any
		ignored  []string
		errHas   []string
	}{
		{"continue with output claims", reply(200, "application/json", `{"version":"1.0.0","loyalty_number":"LN-42","tier":"gold","extra":1}`),
			connector.Continue, "", map[string]any{"loyaltyNumber": "LN-42", "tier": "gold"}, []string{"extra"}, nil},
		{"explicit continue", reply(200, "application/json; charset=utf-8", `{"action":"Continue","tier":3}`),
			connector.Continue, "", map[string]any{"tier": json.Number("3")}, nil, nil},
		{"continue without claims", reply(200, "application/json", `{}`), connector.Continue, "", nil, nil, nil},
		{"block", reply(200, "application/json", `{"version":"1.0.0","action":"ShowBlockPage","userMessage":"Your account is suspended."}`),
			connector.Block, "Your account is suspended.", nil, nil, nil},
		{"validation error", reply(400, "application/json", `{"version":"1.0.0","status":400,"action":"ValidationError","userMessage":"Please enter a valid postal code."}`),
			connector.ValidationError, "Please enter a valid postal code.", nil, nil, nil},
		{"validation error, status as a string", reply(400, "application/json", `{"status":"400","action":"ValidationError","userMessage":"No."}`),
			connector.ValidationError, "No.", nil, nil, nil},
		{"validation error with a wrong status", reply(400, "application/json", `{"status":409,"action":"ValidationError","userMessage":"No."}`),
			connector.Failed, "", nil, nil, []string{"HTTP 400", "must be 400"}},
		{"400 without the action", reply(400, "application/json", `{"error":"bad"}`), connector.Failed, "", nil, nil, []string{"HTTP 400", `{\"error\":\"bad\"}`}},
		{"validation error with 200", reply(200, "application/json", `{"action":"ValidationError","userMessage":"x"}`), connector.Failed, "", nil, nil, []string{"must come with HTTP 400"}},
		{"server error page", reply(500, "text/html", "<html><body>Internal \x1b[31mServer Error</body></html>"), connector.Failed, "", nil, nil, []string{"HTTP 500", "text/html", "Internal"}},
		{"not JSON", reply(200, "text/plain", "OK"), connector.Failed, "", nil, nil, []string{"want application/json", `"OK"`}},
		{"malformed JSON", reply(200, "application/json", `{"tier":`), connector.Failed, "", nil, nil, []string{"not a JSON object"}},
		{"a JSON array", reply(200, "application/json", `["tier"]`), connector.Failed, "", nil, nil, []string{"not a JSON object"}},
		{"unknown action", reply(200, "application/json", `{"action":"Reboot"}`), connector.Failed, "", nil, nil, []string{`unknown action "Reboot"`}},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.test/", http.StatusFound)
		},
			connector.Failed, "", nil, nil, []string{"HTTP 302"}},
		{"block without message", reply(200, "application/json", `{"action":"ShowBlockPage"}`), connector.Failed, "", nil, nil, []string{"needs a userMessage"}},
		{"too large", reply(200, "application/json", big), connector.Failed, "", nil, nil, []string{"larger than 1048576 bytes"}},
		{"credential refused", reply(401, "application/json", "{\"error\":\"invalid_token\"}\n"), connector.Failed, "", nil, nil,
			[]string{"HTTP 401", `{\"error\":\"invalid_token\"}"`, "did not accept the connector's credential"}},
		{"credential recognised, call forbidden", reply(403, "text/plain", "forbidden"), connector.Failed, "", nil, nil,
			[]string{"HTTP 403", "refuses this call"}},
		{"echoes the password into an output claim", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"loyalty_number":"LN-`+connectorPassword+`","tier":"gold"}`)
		}, connector.Failed, "", nil, nil, []string{`output claim "loyaltyNumber"`, "fix the endpoint"}},
		{"echoes the Authorization header into an output claim", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"tier":["gold",`+strconv.Quote(r.Header.Get("Authorization"))+`]}`)
		}, connector.Failed, "", nil, nil, []string{`output claim "tier"`}},
		{"echoes the credential", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(401)
			io.WriteString(w, "you sent "+r.Header.Get("Authorization")+" and "+connectorPassword)
		}, connector.Failed, "", nil, nil, []string{"HTTP 401", "[redacted]"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := e.startEndpoint(t, c.h)
			conn := e.compile(t, e.connectorFor(p.url))
			inv, err := conn.Invoke(context.Background(), map[string]any{"email": "a@contoso.test", "appid": "app-1"})
			if inv.Decision != c.decision {
				t.Fatalf("decision %q (error %v), want %q", inv.Decision, err, c.decision)
			}
			if (err != nil) != (c.decision == connector.Failed) {
				t.Fatalf("error %v with decision %q", err, inv.Decision)
			}
			if inv.UserMessage != c.message {
				t.Errorf("user message %q, want %q", inv.UserMessage, c.message)
			}
			if len(inv.OutputClaims) != len(c.claims) {
				t.Errorf("output claims %v, want %v", inv.OutputClaims, c.claims)
			}
			for k, v := range c.claims {
				if inv.OutputClaims[k] != v {
					t.Errorf("output claim %s = %#v, want %#v", k, inv.OutputClaims[k], v)
				}
			}
			if !slices.Equal(inv.IgnoredClaims, c.ignored) {
				t.Errorf("ignored %v, want %v", inv.IgnoredClaims, c.ignored)
			}
			for _, s := range c.errHas {
				if !strings.Contains(inv.Error, s) || err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", inv.Error, s)
				}
			}
			b, _ := json.Marshal(inv)
			for _, secret := range []string{connectorPassword, base64.StdEncoding.EncodeToString([]byte("portcullis:" + connectorPassword))} {
				if strings.Contains(string(b), secret) || (err != nil && strings.Contains(err.Error(), secret)) {
					t.Fatalf("the invocation shows a credential: %s", b)
				}
			}
			if inv.Response != nil && strings.HasSuffix(inv.Response.Body, " ") {
				t.Errorf("the body shown ends with a space: %q", inv.Response.Body)
			}
			if strings.ContainsRune(inv.Error, '\x1b') {
				t.Errorf("the error carries a control character: %q", inv.Error)
			}
			if inv.Attempts != 1 {
				t.Errorf("%d attempts", inv.Attempts)
			}
		})
	}
}

func TestInvoke_SendsClaimsWhereConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setSecret(t, "connector-pw", connectorPassword)
	claims := map[string]any{"email": "a@contoso.test", "appid": "app-1", "unlisted": "not sent"}
	for _, c := range []struct {
		in    string
		check func(received) error
	}{
		{directory.ClaimsInBody, func(r received) error {
			var m map[string]any
			if r.method != "POST" || r.header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(r.body), &m) != nil {
				return errors.New(r.method + " " + r.header.Get("Content-Type") + " " + r.body)
			}
			if m["email"] != "a@contoso.test" || m["client_id"] != "app-1" || len(m) != 2 {
				return errors.New("body " + r.body)
			}
			return nil
		}},
		{directory.ClaimsInForm, func(r received) error {
			v, err := url.ParseQuery(r.body)
			if r.method != "POST" || r.header.Get("Content-Type") != "application/x-www-form-urlencoded" || err != nil ||
				v.Get("email") != "a@contoso.test" || v.Get("client_id") != "app-1" || len(v) != 2 {
				return errors.New(r.method + " " + r.body)
			}
			return nil
		}},
		{directory.ClaimsInHeader, func(r received) error {
			if r.method != "POST" || r.header.Get("Email") != "a@contoso.test" || r.header.Get("Client_id") != "app-1" || r.body != "" {
				return errors.New(r.method + " headers " + strings.Join(slices.Sorted(func(yield func(string) bool) {
					for k := range r.header {
						if !yield(k) {
							return
						}
					}
				}), ","))
			}
			return nil
		}},
		{directory.ClaimsInQuery, func(r received) error {
			v, err := url.ParseQuery(r.rawQuery)
			if r.method != "GET" || err != nil || v.Get("email") != "a@contoso.test" || v.Get("client_id") != "app-1" || v.Get("keep") != "1" {
				return errors.New(r.method + " " + r.rawQuery)
			}
			return nil
		}},
	} {
		t.Run(c.in, func(t *testing.T) {
			p := e.startEndpoint(t, reply(200, "application/json", `{}`))
			d := e.connectorFor(p.url + "?keep=1")
			d.SendClaimsIn = c.in
			conn := e.compile(t, d)
			inv, err := conn.Invoke(context.Background(), claims)
			if err != nil {
				t.Fatal(err)
			}
			r := p.last()
			if err := c.check(r); err != nil {
				t.Fatalf("the endpoint got: %v", err)
			}
			if u, pw, ok := (&http.Request{Header: r.header}).BasicAuth(); !ok || u != "portcullis" || pw != connectorPassword {
				t.Error("the endpoint did not get the Basic credential")
			}
			if got := inv.Request.Headers["Authorization"]; !slices.Equal(got, []string{"[redacted]"}) {
				t.Errorf("the invocation shows Authorization %q", got)
			}
			if inv.Request.Method != r.method {
				t.Errorf("invocation method %s, sent %s", inv.Request.Method, r.method)
			}
		})
	}
}

func TestInvoke_TimeoutAndTLSFailuresAreErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setSecret(t, "connector-pw", connectorPassword)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow := e.startEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	d := e.connectorFor(slow.url)
	d.TimeoutSeconds = 0.2
	d.Retries = 3
	inv, err := e.compile(t, d).Invoke(context.Background(), nil)
	if err == nil || inv.Decision != connector.Failed || !strings.Contains(inv.Error, "no answer within 200ms") {
		t.Fatalf("slow endpoint: %q %v", inv.Error, err)
	}
	if inv.Attempts != 1 {
		t.Errorf("a request that was sent was retried: %d attempts", inv.Attempts)
	}

	untrusted := e.startEndpoint(t, reply(200, "application/json", `{}`))
	d = e.connectorFor(untrusted.url)
	d.TLS = nil // system roots: the test CA is unknown
	inv, err = e.compile(t, d).Invoke(context.Background(), nil)
	if err == nil || !strings.Contains(inv.Error, "certificate") {
		t.Fatalf("untrusted endpoint: %q %v", inv.Error, err)
	}
}

func TestInvoke_RetriesOnlyWhenTheConnectionCouldNotBeMade(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setSecret(t, "connector-pw", connectorPassword)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "https://" + ln.Addr().String() + "/validate"
	ln.Close()
	d := e.connectorFor(closedURL)
	d.Retries = 2
	inv, err := e.compile(t, d).Invoke(context.Background(), nil)
	if err == nil || inv.Attempts != 3 || !strings.Contains(inv.Error, "cannot connect") {
		t.Fatalf("closed port: %d attempts, %q", inv.Attempts, inv.Error)
	}

	hangUp := e.startEndpoint(t, func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	d = e.connectorFor(hangUp.url)
	d.Retries = 2
	inv, err = e.compile(t, d).Invoke(context.Background(), nil)
	if err == nil || inv.Attempts != 1 || hangUp.count() != 1 {
		t.Fatalf("hang-up after the request: %d attempts, %d requests, %q", inv.Attempts, hangUp.count(), inv.Error)
	}
}

func TestCompile_RefusesBasicOverHTTPWithoutAllowInsecureAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.connectorFor("http://127.0.0.1:1/validate")
	d.TLS = nil
	_, err := connector.Compile(d, connector.Options{Watcher: e.watcher})
	if err == nil || !strings.Contains(err.Error(), "connector t1/validate-user") || !strings.Contains(err.Error(), "allowInsecureAuth") {
		t.Fatalf("Compile: %v", err)
	}
	d.AllowInsecureAuth = true
	c, err := connector.Compile(d, connector.Options{Watcher: e.watcher})
	if err != nil {
		t.Fatalf("with allowInsecureAuth: %v", err)
	}
	c.Close()
}

func TestInvocation_JSONIsWhatInvokePrints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setSecret(t, "connector-pw", connectorPassword)
	p := e.startEndpoint(t, reply(200, "application/json", `{"loyalty_number":"LN-1","other":true}`))
	inv, err := e.compile(t, e.connectorFor(p.url)).Invoke(context.Background(), map[string]any{"email": "a@contoso.test"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"connector", "request", "response", "decision", "outputClaims", "ignoredClaims", "durationMs", "attempts"} {
		if _, ok := m[k]; !ok {
			t.Errorf("%s missing from %s", k, b)
		}
	}
	req, _ := m["request"].(map[string]any)
	resp, _ := m["response"].(map[string]any)
	if req["method"] != "POST" || req["url"] != p.url || req["body"] != `{"email":"a@contoso.test"}` || resp["status"] != float64(200) ||
		resp["contentType"] != "application/json" || m["decision"] != "continue" {
		t.Errorf("invocation %s", b)
	}
	if strings.Contains(string(b), connectorPassword) {
		t.Fatalf("the invocation shows the password: %s", b)
	}
}
