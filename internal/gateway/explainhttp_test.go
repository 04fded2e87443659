package gateway

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestExplainHandler_OverRealHTTP(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.TenantID = func(s string) (string, bool) { return "t1", s == "contoso" || s == "t1" }
	})
	h.vault.set("main", "pw", testPassword)
	h.apply(t, basicAPI("t1", "orders", "/", "alice", "vault://main/secrets/pw"))
	h.settle(t)
	mux := http.NewServeMux()
	mux.Handle("/admin/v1/tenants/{tenant}/apis/{name}/explain", h.g.ExplainHandler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	base := "http://" + ln.Addr().String() + "/admin/v1/tenants/contoso/apis/"

	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: testCert.Raw}))
	cases := []struct {
		name, api, body string
		status          int
		want            string
	}{
		{"admitted", "orders", `{"path":"/x","headers":{"Authorization":["` + basicAuth("alice", testPassword) + `"]}}`, 200, `"allowed":true`},
		{"refused", "orders", `{"headers":{"Authorization":["` + basicAuth("alice", "Zz-other") + `"]}}`, 200, `"outcome":"refused"`},
		{"with a certificate", "orders", `{"certificate":` + jsonString(certPEM) + `}`, 200, `"status":401`},
		{"unknown API", "nope", `{}`, 404, `no API`},
		{"unknown field", "orders", `{"paths":"/"}`, 400, `unknown field \"paths\"; the fields are method, path, host, headers, certificate`},
		{"headers as a string", "orders", `{"headers":{"Authorization":"Basic x"}}`, 400, `field \"headers\" must be an object of header names to lists of values`},
		{"headers as a list", "orders", `{"headers":["Authorization: Basic x"]}`, 400, `field \"headers\" must be an object`},
		{"method as a number", "orders", `{"method":1}`, 400, `field \"method\" must be a string, not a JSON number`},
		{"not an object", "orders", `["GET"]`, 400, `the body must be a JSON object with the fields method, path`},
		{"not JSON", "orders", `{"path":`, 400, `not valid JSON`},
		{"trailing data", "orders", `{} {"path":"/admin"}`, 400, `exactly one JSON object`},
		{"bad path", "orders", `{"path":"orders"}`, 400, `absolute path`},
		{"header with CRLF", "orders", `{"headers":{"X":["a\r\nb"]}}`, 400, `line break`},
		{"bad certificate", "orders", `{"certificate":"nope"}`, 400, `certificate`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Post(base+c.api+"/explain", "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body := readAll(t, resp.Body)
			if resp.StatusCode != c.status || !strings.Contains(body, c.want) {
				t.Fatalf("%d %s; want %d with %s", resp.StatusCode, body, c.status, c.want)
			}
			if strings.Contains(body, "Go struct") || strings.Contains(body, "json: ") {
				t.Errorf("the response speaks of Go: %s", body)
			}
			if strings.Contains(body, testPassword) || strings.Contains(body, "Zz-other") {
				t.Errorf("the response echoes a credential: %s", body)
			}
		})
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func FuzzDecodeExplainRequest(f *testing.F) {
	for _, s := range []string{`{}`, `{"method":"POST","path":"/a?b=c","host":"h","headers":{"A":["b"]}}`,
		`{"certificate":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}`, `{"path":"//x/../y"}`, `[]`, `{"headers":{"":[""]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeExplainRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		if r.URL == nil || !strings.HasPrefix(r.URL.Path, "/") && r.URL.Path != "" {
			t.Fatalf("path %q", r.URL)
		}
		for _, vs := range r.Header {
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n") {
					t.Fatal("a header value with a line break")
				}
			}
		}
	})
}

// An explanation must not say "allowed" for a request the gateway would
// answer 404 or 405: the API's own match is part of the dry run, and the
// status explained is the one the gateway gives the same request.
func TestExplainHandler_ChecksTheAPIsMatchLikeTheGateway(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.TenantID = func(s string) (string, bool) { return "t1", s == "contoso" || s == "t1" }
	})
	h.vault.set("main", "pw", testPassword)
	api := basicAPI("t1", "orders", "/orders", "alice", "vault://main/secrets/pw")
	api.Match.Methods = []string{"GET"}
	api.Match.Hosts = []string{"api.example.com", "*.orders.example"}
	broken := basicAPI("t1", "broken", "/broken", "alice", "vault://main/secrets/missing") // answers 503
	broken.Match.Methods = []string{"GET"}
	h.apply(t, api, broken)
	waitFor(t, "references resolved", h.g.res.Settled)
	mux := http.NewServeMux()
	mux.Handle("/admin/v1/tenants/{tenant}/apis/{name}/explain", h.g.ExplainHandler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	base := "http://" + ln.Addr().String() + "/admin/v1/tenants/contoso/apis/"
	auth := basicAuth("alice", testPassword)

	cases := []struct {
		name, method, path, host string
		status                   int
		want                     string
		api                      string // default orders
	}{
		{"an API that cannot serve: 503", "GET", "/broken", "", 503, `"phase":"compile"`, "broken"},
		{"an API that cannot serve, a method it does not accept: 405 first", "POST", "/broken", "", 405, "does not accept POST", "broken"},
		{"no path: the API's prefix", "", "", "api.example.com", 200, `"allowed":true`, ""},
		{"under the prefix", "GET", "/orders/1", "api.example.com", 200, `"allowed":true`, ""},
		{"no host given", "GET", "/orders/1", "", 200, `"allowed":true`, ""},
		{"host with port and a wildcard", "GET", "/orders", "eu.orders.example:8444", 200, `"allowed":true`, ""},
		{"a method the API does not accept", "POST", "/orders/1", "api.example.com", 405, "does not accept POST; it accepts GET", ""},
		{"a path outside the prefix", "GET", "/other", "api.example.com", 404, "not under this API's path prefix /orders", ""},
		{"a path that only starts like the prefix", "GET", "/ordersX", "api.example.com", 404, "not under this API's path prefix", ""},
		{"a host the API does not serve", "GET", "/orders/1", "other.example.com", 404, "is not one of this API's hosts", ""},
		{"a dot segment", "GET", "/orders/../x", "api.example.com", 400, `\"..\" segment`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, _ := json.Marshal(ExplainRequest{Method: c.method, Path: c.path, Host: c.host,
				Headers: map[string][]string{"Authorization": {auth}}})
			name := c.api
			if name == "" {
				name = "orders"
			}
			resp, err := http.Post(base+name+"/explain", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var res ExplainResult
			if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
				t.Fatalf("%d, %v", resp.StatusCode, err)
			}
			b, _ := json.Marshal(res)
			if res.Status != c.status || !strings.Contains(string(b), c.want) {
				t.Fatalf("explained %d: %s; want %d with %s", res.Status, b, c.status, c.want)
			}
			if strings.Contains(string(b), testPassword) {
				t.Errorf("the explanation holds the password: %s", b)
			}
			// The gateway answers the same request with the same status.
			method, path := c.method, c.path
			if method == "" {
				method = "GET"
			}
			if path == "" {
				path = "/orders"
			}
			host := c.host
			if host == "" {
				host = "api.example.com"
			}
			r := request(method, "https://"+host+path, "Authorization", auth)
			if c.name == "a dot segment" {
				r.URL.Path = path // url.Parse keeps it; the engine refuses it before Evaluate too
			}
			v := h.g.Evaluate(r, false)
			if got := v.Status; got != c.status && !(got == 0 && c.status == 200) {
				t.Errorf("the gateway answers %d, the explanation says %d", got, c.status)
			}
			v.Done(max(v.Status, 200), 0, nil)
		})
	}
}
