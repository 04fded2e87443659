package server

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// TestGateway_TrustedProxyAndTimeoutsReachTheEngine runs serve with a plain
// gateway listener behind a "load balancer" on 127.0.0.2: failures of one
// client behind it exhaust that client's budget only, and the timeout
// flags reach the gateway's engine.
func TestGateway_TrustedProxyAndTimeoutsReachTheEngine(t *testing.T) {
	gw := "http://" + freeLoopbackAddr(t)
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir(), GatewayListen: []string{gw},
		GatewayTrustedProxies: []string{"127.0.0.2"}, GatewayReadBodyTimeout: 7 * time.Second, GatewaySendTimeout: 9 * time.Second})

	for _, l := range r.srv.gateway.listeners {
		e, ok := l.Server.(engine)
		if !ok {
			t.Fatalf("gateway listener %s is served by %T", l.Name, l.Server)
		}
		if e.s.ReadBodyTimeout != 7*time.Second || e.s.SendTimeout != 9*time.Second || len(e.s.TrustedProxies) != 1 {
			t.Errorf("%s: ReadBodyTimeout %s, SendTimeout %s, TrustedProxies %v", l.Name, e.s.ReadBodyTimeout, e.s.SendTimeout, e.s.TrustedProxies)
		}
	}

	if st := r.admin(t, "POST", "/tenants/default/applications", map[string]any{"displayName": "orders", "identifierUris": []string{"api://orders"}}, nil); st != http.StatusCreated {
		t.Fatalf("create api://orders: %d", st)
	}
	api := map[string]any{
		"name":    "orders",
		"match":   map[string]any{"pathPrefix": "/orders"},
		"backend": map[string]any{"urls": []string{"http://127.0.0.1:9"}},
		"policy":  map[string]any{"methods": []any{map[string]any{"type": "bearer", "issuers": []any{map[string]any{"tenant": "default"}}, "audiences": []string{"api://orders"}}}},
	}
	if st := r.admin(t, "POST", "/tenants/default/apis", api, nil); st != http.StatusCreated {
		t.Fatalf("create API: %d", st)
	}
	lb := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	const forged = "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vIn0.e30.c2ln"
	get := func(client string) int {
		req, _ := http.NewRequest("GET", gw+"/orders", nil)
		req.Header.Set("Authorization", forged)
		req.Header.Set("X-Forwarded-For", client)
		res, err := lb.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	deadline := time.Now().Add(10 * time.Second)
	for get("198.51.100.1") != http.StatusUnauthorized { // the API is routed once the node has applied it
		if time.Now().After(deadline) {
			t.Fatal("the API is not routed")
		}
		time.Sleep(10 * time.Millisecond) // polling interval for the condition above
	}
	st := 0
	for i := 0; i < 40 && st != http.StatusTooManyRequests; i++ {
		st = get("203.0.113.1")
	}
	if st != http.StatusTooManyRequests {
		t.Fatalf("client 203.0.113.1 is not refused after 40 failures: %d", st)
	}
	if st := get("203.0.113.2"); st != http.StatusUnauthorized {
		t.Fatalf("another client behind the same balancer gets %d, want 401 (its own budget)", st)
	}
}
