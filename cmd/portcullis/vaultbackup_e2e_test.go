package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestE2E_VaultBackupAndRestoreThroughCLI(t *testing.T) {
	s := startDevServer(t)
	const v1, v2 = "backup-first-value-7d2k", "backup-second-value-4h9p"
	s.addSecret(v1)
	s.addSecret(v2)
	first := s.okJSON(t, v1+"\n", "secret", "set", "db", "--value", "-")
	s.ok(t, v2+"\n", "secret", "set", "db", "--value", "-")
	s.ok(t, "", "key", "create", "signer")
	s.ok(t, "", "certificate", "create", "edge", "--subject", "CN=edge.example.test")

	for _, kind := range []string{"secret", "key", "certificate"} {
		name := map[string]string{"secret": "db", "key": "signer", "certificate": "edge"}[kind]
		file := filepath.Join(s.dir, kind+".backup")
		t.Run(kind, func(t *testing.T) {
			if out := s.ok(t, "", kind, "backup", name, "--out", file); !strings.Contains(out, "wrote "+file) {
				t.Fatalf("backup: %s", out)
			}
			fi, err := os.Stat(file)
			if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() == 0 {
				t.Fatalf("backup file: %v %v", fi, err)
			}
			if e := s.wantFailure(t, "", kind, "backup", name, "--out", file); !strings.Contains(e, "already exists") {
				t.Fatalf("backup over an existing file: %s", e)
			}
			if e := s.wantFailure(t, "", kind, "restore", file); !strings.Contains(e, "409") && !strings.Contains(e, "Conflict") {
				t.Fatalf("restore over a live object: %s", e)
			}
			s.ok(t, "", kind, "delete", name)
			s.ok(t, "", kind, "purge", name)
			if out := s.ok(t, "", kind, "restore", file); !strings.Contains(out, "restored "+kind+" "+name) {
				t.Fatalf("restore: %s", out)
			}
		})
	}
	if got := s.okJSON(t, "", "secret", "show", "db"); got["value"] != v2 {
		t.Fatalf("newest version after restore: %v", got["value"])
	}
	_, firstVersion := objectName(str(first["id"]))
	if got := s.okJSON(t, "", "secret", "show", "db", "--version", firstVersion); got["value"] != v1 {
		t.Fatalf("first version after restore: %v", got["value"])
	}
	if e := s.wantFailure(t, "", "key", "restore", filepath.Join(s.dir, "secret.backup")); !strings.Contains(e, "holds a secret") {
		t.Fatalf("secret backup restored as a key: %s", e)
	}
	empty := filepath.Join(s.dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	if e := s.wantFailure(t, "", "secret", "restore", empty); !strings.Contains(e, "is empty") {
		t.Fatalf("empty file: %s", e)
	}
}
