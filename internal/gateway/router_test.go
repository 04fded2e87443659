package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/directory"
)

func routedAPI(name string, hosts []string, prefix string, methods ...string) directory.API {
	a := apiKeyAPI("t1", name, prefix, "vault://main/secrets/k")
	a.Match.Hosts, a.Match.Methods = hosts, methods
	return a
}

func TestRouter_MostSpecificMatchWins(t *testing.T) {
	h := newHarness(t, nil)
	h.apply(t,
		routedAPI("any-root", nil, "/"),
		routedAPI("any-orders", nil, "/orders"),
		routedAPI("exact-orders", []string{"api.example.com"}, "/orders"),
		routedAPI("exact-orders-items", []string{"API.Example.com"}, "/orders/items/"),
		routedAPI("wild-orders", []string{"*.example.com"}, "/orders"),
		routedAPI("reads", []string{"shop.test"}, "/catalog", "GET", "HEAD"),
		routedAPI("writes", []string{"shop.test"}, "/catalog", "POST"),
		routedAPI("exact-root-only", []string{"root.test"}, "/"),
	)
	cases := []struct {
		name, method, host, path string
		want                     string // API name, "405 <allow>" or "404"
	}{
		{"exact host and prefix", "GET", "api.example.com", "/orders", "exact-orders"},
		{"exact host with port and case", "GET", "API.EXAMPLE.COM:8443", "/orders/1", "exact-orders"},
		{"trailing dot host", "GET", "api.example.com.", "/orders", "exact-orders"},
		{"longer prefix at boundary", "GET", "api.example.com", "/orders/items/9", "exact-orders-items"},
		{"prefix equal to the path", "GET", "api.example.com", "/orders/items", "exact-orders-items"},
		{"trailing slash", "GET", "api.example.com", "/orders/items/", "exact-orders-items"},
		{"not at a boundary", "GET", "api.example.com", "/ordersx", "any-root"},
		{"exact host has no such prefix: wildcard", "GET", "api.example.com", "/catalog", "any-root"},
		{"wildcard one label", "GET", "eu.example.com", "/orders/2", "wild-orders"},
		{"wildcard is one label only", "GET", "a.eu.example.com", "/orders", "any-orders"},
		{"wildcard does not match the apex", "GET", "example.com", "/orders", "any-orders"},
		{"any host", "GET", "other.test", "/orders", "any-orders"},
		{"any host, root", "GET", "other.test", "/x/y", "any-root"},
		{"exact host beats a longer any-host prefix", "GET", "root.test", "/orders", "exact-root-only"},
		{"method GET", "GET", "shop.test", "/catalog/1", "reads"},
		{"method POST", "POST", "shop.test", "/catalog", "writes"},
		{"method not allowed", "DELETE", "shop.test", "/catalog/1", "405 GET, HEAD, POST"},
		{"sibling path of the method API", "DELETE", "shop.test", "/catalogue", "any-root"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			api, allow := h.g.routes.Load().router.lookup(c.host, c.path, c.method)
			got := "404"
			switch {
			case api != nil:
				got = api.Name
			case allow != "":
				got = "405 " + allow
			}
			if got != c.want {
				t.Errorf("%s %s%s: got %s, want %s", c.method, c.host, c.path, got, c.want)
			}
		})
	}
}

func TestEvaluate_NotFoundAndMethodNotAllowed(t *testing.T) {
	h := newHarness(t, nil)
	h.apply(t, routedAPI("reads", []string{"shop.test"}, "/catalog", "GET"))
	cases := []struct {
		name, method, target string
		status               int
		header, body         string
	}{
		{"no API", "GET", "http://nowhere.test/x?secret=1", http.StatusNotFound, "", `no API matches GET nowhere.test/x"`},
		{"long path clipped", "GET", "http://nowhere.test/" + strings.Repeat("a", 5000), http.StatusNotFound, "", `…`},
		{"method", "PUT", "http://shop.test/catalog", http.StatusMethodNotAllowed, "GET", `does not accept PUT`},
		{"dot segments", "GET", "http://shop.test/catalog/../admin", http.StatusBadRequest, "", `segment`},
		{"empty segment", "GET", "http://shop.test//catalog", http.StatusBadRequest, "", `segment`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := request(c.method, c.target, "Authorization", "Bearer leak-me")
			v := h.g.Evaluate(r, false)
			v.Done(v.Status, 0, nil)
			if v.Status != c.status {
				t.Fatalf("status %d, want %d (%s)", v.Status, c.status, v.Body)
			}
			if c.header != "" && v.Header.Get("Allow") != c.header {
				t.Errorf("Allow %q, want %q", v.Header.Get("Allow"), c.header)
			}
			if !strings.Contains(string(v.Body), c.body) {
				t.Errorf("body %s does not say %s", v.Body, c.body)
			}
			if strings.Contains(string(v.Body), "leak-me") || strings.Contains(string(v.Body), "secret=1") {
				t.Errorf("body echoes the request's headers or query: %s", v.Body)
			}
			if len(v.Body) > 600 {
				t.Errorf("body is %d bytes; long values must be clipped", len(v.Body))
			}
			if v.Header.Get(DecisionIDHeader) != v.DecisionID || len(v.DecisionID) != 16 {
				t.Errorf("decision id %q, header %q", v.DecisionID, v.Header.Get(DecisionIDHeader))
			}
		})
	}
}

func TestApply_BadMatchIsReportedNotRouted(t *testing.T) {
	h := newHarness(t, nil)
	bad := routedAPI("bad", nil, "orders")
	h.apply(t, bad, routedAPI("good", nil, "/good"))
	ps := h.g.Problems()
	if len(ps) == 0 || ps[0].API != "bad" || !strings.Contains(ps[0].Reason, "must start with") {
		t.Fatalf("problems %+v", ps)
	}
	if !strings.Contains(h.logs.String(), "bad") {
		t.Errorf("the broken API is not logged: %s", h.logs.String())
	}
}

func FuzzRouter(f *testing.F) {
	for _, s := range [][3]string{
		{"api.example.com", "/orders/1", "GET"}, {"API.EXAMPLE.COM:443", "/orders", "POST"}, {"[::1]:80", "/", "GET"},
		{"x.example.com", "/ordersx", "GET"}, {"", "", ""}, {"a..b", "//", "G"}, {"*.example.com", "/orders/../x", "GET"},
		{":", "/a/./b", "DELETE"}, {".example.com", "/orders/", "HEAD"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	rt := newRouter()
	mk := func(name string, hosts []string, prefix string, methods ...string) {
		a := &API{Name: name, hosts: hosts, prefix: prefix, methods: methods}
		rt.add(a)
	}
	mk("root", nil, "/")
	mk("orders", nil, "/orders")
	mk("exact", []string{"api.example.com"}, "/orders", "GET")
	mk("wild", []string{"*.example.com"}, "/orders/items")
	rt.finish()
	f.Fuzz(func(t *testing.T, host, path, method string) {
		api, allow := rt.lookup(host, path, method)
		if api != nil && allow != "" {
			t.Fatal("both an API and an Allow list")
		}
		if api == nil {
			return
		}
		if !strings.HasPrefix(path, api.prefix) {
			t.Fatalf("%q routed to prefix %q", path, api.prefix)
		}
		if api.prefix != "/" && len(path) > len(api.prefix) && path[len(api.prefix)] != '/' {
			t.Fatalf("%q routed to %q not at a boundary", path, api.prefix)
		}
		if !api.acceptsMethod(method) {
			t.Fatalf("%s routed to an API without that method", method)
		}
		if len(api.hosts) > 0 && !strings.HasSuffix(hostKey(host), strings.TrimPrefix(api.hosts[0], "*")) {
			t.Fatalf("host %q routed to %v", host, api.hosts)
		}
	})
}

func TestApply_ShadowedAPIIsLoggedOnce(t *testing.T) {
	h := newHarness(t, nil)
	a := routedAPI("a", []string{"h.test"}, "/orders", "GET")
	b := routedAPI("b", []string{"h.test"}, "/orders/", "GET", "POST")
	c := routedAPI("c", []string{"h.test"}, "/orders", "DELETE")
	h.apply(t, a, b, c)
	h.apply(t, a, b, c)
	if n := strings.Count(h.logs.String(), "shadowedBy=a"); n != 1 {
		t.Errorf("%d shadow warnings, want 1: %s", n, h.logs.String())
	}
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, "shadowedBy") && strings.Contains(l, "api=c ") {
			t.Errorf("an API with other methods is reported: %s", l)
		}
	}
}

func TestRouter_HitAllocatesNothing(t *testing.T) {
	rt := newRouter()
	for _, a := range []*API{
		{Name: "exact", hosts: []string{"api.example.com"}, prefix: "/orders", methods: []string{"GET"}},
		{Name: "wild", hosts: []string{"*.example.com"}, prefix: "/items"},
		{Name: "any", prefix: "/"},
	} {
		rt.add(a)
	}
	rt.finish()
	for _, c := range [][3]string{
		{"api.example.com:443", "/orders/42/lines", "GET"}, {"eu.example.com", "/items/1", "POST"}, {"x.test", "/a/b/c", "GET"},
	} {
		if n := testing.AllocsPerRun(100, func() { rt.lookup(c[0], c[1], c[2]) }); n != 0 {
			t.Errorf("%v: %v allocations", c, n)
		}
	}
}

func TestDecisionIDs_AreUniqueHex(t *testing.T) {
	var d decisionIDs
	d.init()
	seen := map[string]bool{}
	for range 10000 {
		id := d.next()
		if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" || seen[id] {
			t.Fatalf("id %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}
