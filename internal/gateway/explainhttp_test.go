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
