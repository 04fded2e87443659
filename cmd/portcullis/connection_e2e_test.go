package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2E_ConnectionErrorsSayWhatToDo: the CLI names the address once and
// what to change when nothing answers at the address of admin.json (the dev
// server moved or stopped), and when http:// reaches the HTTPS port.
func TestE2E_ConnectionErrorsSayWhatToDo(t *testing.T) {
	s := startDevServer(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.cred.Addr, "https://"))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String()
	l.Close()
	stale := filepath.Join(s.dir, "stale")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	cred := `{"addr":"` + closed + `","tenantId":"default","clientId":"00000000-0000-4000-8000-000000000001","clientSecret":"not-a-real-secret-but-long-enough","scope":"api://portcullis-management/.default"}`
	if err := os.WriteFile(filepath.Join(stale, "admin.json"), []byte(cred), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
		addr string // said exactly once
	}{
		{"admin.json names a stopped server", []string{"app", "list", "--data", stale},
			[]string{"nothing answers at " + closed + " (connection refused)", filepath.Join(stale, "admin.json"), "portcullis serve --dev", "--addr https://HOST:PORT"}, closed},
		{"http:// to the HTTPS port", []string{"app", "list", "--data", s.data, "--addr", "http://127.0.0.1:" + port},
			[]string{"http://127.0.0.1:" + port + " speaks HTTPS, not plain HTTP: use https://127.0.0.1:" + port, "check --addr"}, ""},
		{"http:// to the HTTPS port, vault commands", []string{"secret", "list", "--data", s.data, "--addr", "http://127.0.0.1:" + port},
			[]string{"speaks HTTPS, not plain HTTP: use https://127.0.0.1:" + port}, ""},
		{"http:// to the HTTPS port, token get", []string{"token", "get", "--data", s.data, "--addr", "http://127.0.0.1:" + port, "--client-id", "x", "--secret", "y", "--scope", "api://x/.default"},
			[]string{"speaks HTTPS, not plain HTTP: use https://127.0.0.1:" + port}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := exec(t, "", tc.args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr %q", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
			if tc.addr != "" && strings.Count(errOut, tc.addr) != 1 {
				t.Errorf("stderr names %s %d times: %q", tc.addr, strings.Count(errOut, tc.addr), errOut)
			}
		})
	}
}
