package main

import (
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/adminclient"
)

// TestE2E_APIExplainAndTestAgainstRealServer creates an API behind an API
// key in a real dev server, then sends real requests through its gateway
// listener with 'api test' and dry-runs them with 'api explain'.
func TestE2E_APIExplainAndTestAgainstRealServer(t *testing.T) {
	s := startDevServer(t)
	m := regexp.MustCompile(`Gateway \(APIs\):\s+(https://\S+)`).FindStringSubmatch(s.banner.String())
	if m == nil {
		t.Fatalf("the dev server's banner names no gateway listener:\n%s", s.banner.String())
	}
	gatewayURL := m[1]

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "backend saw "+r.Method+" "+r.URL.Path+" for "+r.Header.Get("X-Portcullis-Subject"))
	})}
	go backend.Serve(ln)
	t.Cleanup(func() { backend.Close() })

	const key = "Fk-9c1f0e2d7b6a5948"
	s.addSecret(key)
	s.ok(t, key+"\n", "secret", "set", "functions-key", "--value", "-")
	s.ok(t, "", "api", "create", "functions", "--path-prefix", "/api", "--backend", "http://"+ln.Addr().String(),
		"--api-key-header", "x-functions-key", "--api-key", "k1=vault://default/secrets/functions-key")
	if out := s.ok(t, "", "api", "show", "functions"); strings.Contains(out, "Gateway problem") {
		t.Errorf("api show reports a problem:\n%s", out)
	}

	// 'api test' takes its --data as the body; the data directory comes
	// from the environment.
	t.Setenv(adminclient.EnvData, s.data)
	apiTest := func(args ...string) (int, string, string) {
		t.Helper()
		code, out, errOut := exec(t, "", append([]string{"api", "test", "functions", "--gateway", gatewayURL}, args...)...)
		if strings.Contains(out+errOut, key) {
			t.Errorf("api test prints the key:\n%s%s", out, errOut)
		}
		return code, out, errOut
	}
	// The gateway applies the new API and resolves its key off the request
	// path: wait until it answers for it.
	deadline := time.Now().Add(10 * time.Second)
	var code int
	var out, errOut string
	for {
		code, out, errOut = apiTest("--header", "x-functions-key: "+key, "--path", "/api/orders")
		if code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // poll: the reload is asynchronous
	}
	if code != 0 || !strings.Contains(out, " 200 OK\nX-Portcullis-Decision-Id: ") || !strings.Contains(out, "backend saw GET /api/orders for k1") {
		t.Fatalf("with the key: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = apiTest("--header", "x-functions-key: wrong-key", "--path", "/api/orders", "--data", `{"a":1}`)
	if code != 1 || !strings.Contains(out, " 401 Unauthorized\nX-Portcullis-Decision-Id: ") || !strings.Contains(errOut, "the gateway answered 401") {
		t.Errorf("with a wrong key: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut = s.cli(t, "", "api", "explain", "functions", "--path", "/api/orders", "--header", "x-functions-key: "+key)
	if code != 0 || !strings.Contains(out, "admitted") || !strings.Contains(out, "decision   allowed") || strings.Contains(out, key) {
		t.Errorf("explain with the key: exit %d\n%s%s", code, out, errOut)
	}
	out = s.ok(t, "", "api", "explain", "functions", "--path", "/api/orders")
	if !strings.Contains(out, "absent") || !strings.Contains(out, "decision   refused: 401") {
		t.Errorf("explain without a key:\n%s", out)
	}
	code, out, errOut = exec(t, "", "api", "test", "functions", "--header", "x-functions-key: "+key)
	if code != 0 || !strings.Contains(out, "backend saw GET /api for k1") {
		t.Errorf("api test with the server's defaults: exit %d\n%s%s", code, out, errOut)
	}

	// A new version of the key reaches the gateway within 5 s through the
	// node's one vault watcher (shared with the connectors).
	const key2 = "Fk-2b8e4d6f0a1c3e5b"
	s.addSecret(key2)
	s.ok(t, key2+"\n", "secret", "set", "functions-key", "--value", "-")
	deadline = time.Now().Add(5 * time.Second)
	for {
		code, out, errOut = apiTest("--header", "x-functions-key: "+key2, "--path", "/api/orders")
		if code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // poll: the watcher resolves in the background
	}
	if code != 0 || !strings.Contains(out, "backend saw GET /api/orders for k1") {
		t.Fatalf("5 s after the key's rotation the gateway still refuses the new key: exit %d\n%s%s", code, out, errOut)
	}
}
