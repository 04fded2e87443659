package main

import (
	"strings"
	"testing"
)

// TestE2E_TenantDeleteNeedsYesAndRemovesWhatTheTenantHolds runs `tenant
// delete` against a real dev server: without --yes it only says what
// would be removed; with it the tenant, its applications and their
// credentials are gone and its tokens are refused.
func TestE2E_TenantDeleteNeedsYesAndRemovesWhatTheTenantHolds(t *testing.T) {
	s := startDevServer(t)
	id := str(s.okJSON(t, "", "tenant", "create", "fabrikam")["id"])
	workerID := str(s.okJSON(t, "", "app", "create", "worker", "--tenant", "fabrikam", "--identifier-uri", "api://worker")["appId"])
	s.ok(t, "", "app", "create", "reporter", "--tenant", "fabrikam")
	s.ok(t, "", "api", "create", "reports", "--tenant", "fabrikam", "--path-prefix", "/reports", "--backend", "http://127.0.0.1:9000",
		"--bearer-tenant", "fabrikam", "--audience", "api://worker")
	secret := str(s.okJSON(t, "", "app", "secret", "add", "worker", "--tenant", "fabrikam")["secretText"])
	s.addSecret(secret)
	tokenArgs := []string{"--client-id", workerID, "--secret", "-", "--scope", "api://worker/.default", "--tenant", "fabrikam"}
	if _, code, errOut := s.token(t, secret, tokenArgs...); code != 0 {
		t.Fatalf("token before the deletion: %s", errOut)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"without --yes", []string{"tenant", "delete", "fabrikam"},
			[]string{"not deleted", "tenant fabrikam (id " + id + ")", "2 applications", "signing keys", "add --yes"}},
		{"without --yes in JSON mode", []string{"tenant", "delete", "FABRIKAM", "-o", "json"}, []string{"not deleted", "add --yes"}},
		{"unknown tenant", []string{"tenant", "delete", "nowhere", "--yes"}, []string{`tenant "nowhere" not found`}},
		{"management tenant", []string{"tenant", "delete", "default", "--yes"}, []string{"management API", "cannot be deleted"}},
		{"tenant named ..", []string{"tenant", "delete", "..", "--yes"}, []string{`".." cannot name an object`}},
		{"empty tenant", []string{"tenant", "delete", "", "--yes"}, []string{"empty name or id"}},
		{"no tenant", []string{"tenant", "delete", "--yes"}, []string{"accepts 1 arg(s), received 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := s.cli(t, "", tc.args...)
			if code != 1 || out != "" {
				t.Errorf("exit code %d, stdout %q; want 1 and nothing", code, out)
			}
			if !strings.HasPrefix(errOut, "error: ") || strings.Count(errOut, "error:") != 1 {
				t.Errorf("stderr should be one \"error: …\" message: %q", errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
		})
	}
	// The refusals deleted nothing.
	if _, code, errOut := s.token(t, secret, tokenArgs...); code != 0 {
		t.Fatalf("token after the refusals: %s", errOut)
	}
	s.ok(t, "", "tenant", "show", "default")

	out := s.ok(t, "", "tenant", "delete", "fabrikam", "--yes")
	if want := "deleted tenant fabrikam (id " + id + "): 2 applications with their credentials, grants and vault role assignments, 1 gateway API, and its signing keys\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if code, _, errOut := s.cli(t, "", "tenant", "show", "fabrikam"); code != 1 || !strings.Contains(errOut, `tenant "fabrikam" not found`) {
		t.Errorf("tenant show after the deletion: exit %d, %q", code, errOut)
	}
	if out := s.ok(t, "", "tenant", "list"); strings.Contains(out, "fabrikam") {
		t.Errorf("tenant list after the deletion still shows it:\n%s", out)
	}
	if _, code, errOut := s.token(t, secret, tokenArgs...); code != 1 || !strings.Contains(errOut, "AADSTS90002") {
		t.Errorf("token in the deleted tenant: exit %d, %q; want AADSTS90002", code, errOut)
	}

	// In JSON mode a deletion prints nothing, like the other deletes.
	s.ok(t, "", "tenant", "create", "northwind")
	if out := s.ok(t, "", "tenant", "delete", "northwind", "--yes", "-o", "json"); out != "" {
		t.Errorf("tenant delete -o json printed %q", out)
	}
}
