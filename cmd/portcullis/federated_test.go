package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAppFederated_FlagRefusalsNeedNoServer(t *testing.T) {
	dir := isolate(t)
	junk := filepath.Join(dir, "junk.json")
	if err := os.WriteFile(junk, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	add := []string{"app", "federated", "add", "orders", "--name", "gh", "--issuer", "https://i.test", "--subject", "s"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no issuer", []string{"app", "federated", "add", "orders", "--name", "gh", "--subject", "s"}, `"issuer" not set`},
		{"no subject", []string{"app", "federated", "add", "orders", "--name", "gh", "--issuer", "https://i.test"}, `"subject" not set`},
		{"jwks-uri and keys-file", append(add, "--jwks-uri", "https://i.test/jwks", "--keys-file", junk), "none of the others can be"},
		{"keys file missing", append(add, "--keys-file", filepath.Join(dir, "nope.json")), "--keys-file"},
		{"keys file not JSON", append(add, "--keys-file", junk), "is not JSON"},
		{"remove without a name", []string{"app", "federated", "remove", "orders"}, "accepts 2 arg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := exec(t, "", tc.args...)
			if code != 1 || !strings.HasPrefix(errOut, "error: ") || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want an error containing %q", code, errOut, tc.want)
			}
			if out != "" {
				t.Errorf("stdout %q on error", out)
			}
		})
	}
}
