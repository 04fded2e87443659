package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/server"
)

func TestE2E_AuditLogThroughCLI(t *testing.T) {
	var ship string
	s := startDevServerWith(t, func(c *server.Config) {
		ship = filepath.Join(c.DataDir, "..", "audit.jsonl")
		c.AuditShip = ship
	})
	if fi, err := os.Stat(ship); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("--audit-ship file at start: %v, %v; want it created with mode 0600", fi, err)
	}
	const value = "audited-Secret-value-7c2x"
	s.addSecret(value)
	s.ok(t, "", "tenant", "create", "contoso")
	s.wantFailure(t, "", "tenant", "create", "contoso")
	s.ok(t, value+"\n", "secret", "set", "db-password", "--value", "-")

	ops := func(args ...string) []map[string]any {
		t.Helper()
		return values(t, "audit", s.okJSON(t, "", append([]string{"audit"}, args...)...))
	}
	all := ops()
	tenants := 0
	for _, r := range all {
		if r["operation"] == "POST /admin/v1/tenants" {
			tenants++
		}
	}
	if tenants != 2 {
		t.Errorf("%d records of POST /admin/v1/tenants, want 2 (created, conflict): %v", tenants, all)
	}
	if got := ops("--operation", "POST /admin/v1/tenants", "--outcome", "failed"); len(got) != 1 || got[0]["code"] != "409" || got[0]["appId"] != s.cred.ClientID {
		t.Errorf("the refused tenant creation: %v", got)
	}
	set := ops("--vault", "DEFAULT", "--operation", "secrets/*", "--name", "db-password", "--since", "1h")
	if len(set) != 1 || set[0]["operation"] != "secrets/setSecret" || set[0]["outcome"] != "success" || str(set[0]["version"]) == "" {
		t.Errorf("secrets/* records of db-password: %v", set)
	}
	for _, tc := range []struct {
		name  string
		actor string
	}{
		{"appId", s.cred.ClientID},
		{"application name", "portcullis-admin"},
		{"identifier URI", "api://" + s.cred.ClientID},
	} {
		got := ops("--actor", tc.actor, "--operation", "POST /admin/v1/tenants")
		if len(got) != 2 {
			t.Errorf("--actor %s (%s): %d records of POST /admin/v1/tenants, want 2: %v", tc.actor, tc.name, len(got), got)
		}
		for _, r := range got {
			if r["appId"] != s.cred.ClientID {
				t.Errorf("--actor %s (%s): a record of caller %v", tc.actor, tc.name, r["appId"])
			}
		}
	}
	if got := ops("--actor", "anonymous", "--outcome", "success"); len(got) != 0 {
		t.Errorf("--actor anonymous --outcome success: %v, want none (anonymous requests are refused)", got)
	}
	if out := s.ok(t, "", "audit", "-o", "json"); strings.Contains(out, value) {
		t.Error("the audit log holds a secret value")
	}
	if out := s.ok(t, "", "audit", "--limit", "1"); !strings.Contains(out, "OPERATION") || !strings.Contains(out, "(more: add --before ") {
		t.Errorf("audit --limit 1 =\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "5x"}, "--since"},
		{[]string{"--outcome", "maybe"}, "--outcome"},
		{[]string{"--from", "yesterday"}, "--from"},
		{[]string{"--limit", "0"}, "--limit"},
		{[]string{"--since", "1h", "--from", "2026-01-01"}, "--since or --from"},
		{[]string{"--before", "-3"}, "--before -3"},
		{[]string{"--actor", "no-such-app"}, `--actor "no-such-app": no application`},
	} {
		if e := s.wantFailure(t, "", append([]string{"audit"}, tc.args...)...); !strings.Contains(e, tc.want) {
			t.Errorf("audit %v: %s; want it to name %s", tc.args, e, tc.want)
		}
	}
}
