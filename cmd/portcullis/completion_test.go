package main

import (
	"strings"
	"testing"
)

func TestE2E_CompletionNamesApplicationsRolesAndVaultObjects(t *testing.T) {
	s := startDevServer(t)
	s.ok(t, "", "app", "create", "orders-api", "--identifier-uri", "api://orders")
	s.ok(t, "", "app", "role", "add", "orders-api", "--value", "Orders.Read")
	s.ok(t, "s3cr3t\n", "secret", "set", "db-password", "--value", "-")
	s.addSecret("s3cr3t")
	for _, tc := range []struct {
		name string
		args []string // before the word being completed
		word string
		want []string
		not  []string
	}{
		{"application names and identifier URIs", []string{"app", "show"}, "", []string{"orders-api", "api://orders"}, nil},
		{"prefix", []string{"app", "secret", "list"}, "ord", []string{"orders-api"}, []string{"Portcullis Management"}},
		{"app roles of the application", []string{"app", "role", "remove", "orders-api"}, "", []string{"Orders.Read"}, nil},
		{"roles of --resource", []string{"grant", "add", "--resource", "orders-api", "--role"}, "", []string{"Orders.Read"}, nil},
		{"--client", []string{"grant", "add", "--client"}, "orders", []string{"orders-api"}, nil},
		{"vault secrets", []string{"secret", "show"}, "", []string{"db-password"}, nil},
		{"Key Vault roles", []string{"vault", "role", "assign", "--role"}, "Key Vault Secrets", []string{"Key Vault Secrets User", "Key Vault Secrets Officer"}, []string{"Key Vault Reader"}},
		{"vaults", []string{"secret", "list", "--vault"}, "", []string{"default"}, nil},
		{"tenants", []string{"app", "list", "--tenant"}, "", []string{"default"}, nil},
		{"a FILE argument is left to the shell", []string{"app", "cert", "add", "orders-api"}, "", nil, []string{"orders-api"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// --data goes before the flag being completed, if any.
			i := 0
			for i < len(tc.args) && !strings.HasPrefix(tc.args[i], "-") {
				i++
			}
			args := append([]string{"__complete"}, tc.args[:i]...)
			args = append(args, "--data", s.data)
			args = append(args, tc.args[i:]...)
			args = append(args, tc.word)
			code, out, errOut := exec(t, "", args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			lines := strings.Split(out, "\n")
			for _, w := range tc.want {
				if !contains(lines, w) {
					t.Errorf("completions %q lack %q", lines, w)
				}
			}
			for _, w := range tc.not {
				if contains(lines, w) {
					t.Errorf("completions %q include %q", lines, w)
				}
			}
		})
	}
	// A server that does not answer completes nothing, silently.
	code, out, _ := exec(t, "", "__complete", "app", "show", "--addr", "https://127.0.0.1:1", "--data", s.data, "")
	if code != 0 || strings.TrimSpace(out) != ":4" {
		t.Errorf("completion without a server: exit %d, %q", code, out)
	}
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}
