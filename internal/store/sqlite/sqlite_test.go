package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store/sqlstore"
	"github.com/portcullis/portcullis/internal/store/storetest"
	"github.com/portcullis/portcullis/internal/vault"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend { return openTest(t) })
}

func TestReopen_KeepsEverythingWritten(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data", "..", "portcullis.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	tn := directory.Tenant{ID: "tenant-1", Name: "Contoso", CreatedAt: created}
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	app := directory.Application{TenantID: tn.ID, AppID: "app-1", ObjectID: "obj-1", DisplayName: "API", IdentifierURIs: []string{"api://x"}, AccessTokenLifetime: time.Hour, CreatedAt: created}
	if err := s.CreateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.TryLease(ctx, "rotation", "node-a", time.Hour, created); err != nil || !ok {
		t.Fatalf("TryLease = %v, %v", ok, err)
	}
	before, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Revision != before.Revision || len(after.Tenants) != 1 || len(after.Applications) != 1 {
		t.Fatalf("after reopen: %#v, before: %#v", after, before)
	}
	if got := after.Applications[0]; got.AccessTokenLifetime != time.Hour || got.IdentifierURIs[0] != "api://x" {
		t.Fatalf("application after reopen: %#v", got)
	}
	// The lease survived too: another holder is refused.
	if ok, err := s.TryLease(ctx, "rotation", "node-b", time.Hour, created.Add(time.Minute)); err != nil || ok {
		t.Fatalf("TryLease by another holder after reopen = %v, %v; want refused", ok, err)
	}
}

func TestOpen_MigrationIsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "portcullis.db")
	for i := range 3 {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		rows, err := s.db.r.QueryContext(ctx, `SELECT component, version FROM schema_migrations ORDER BY component, version`)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var c string
			var v int64
			if err := rows.Scan(&c, &v); err != nil {
				t.Fatal(err)
			}
			got = append(got, c+"/"+time.Duration(v).String())
		}
		rows.Close()
		want := []string{"audit/1ns", "core/1ns", "directory/1ns", "directory/2ns", "directory/3ns", "directory/4ns", "directory/5ns", "directory/6ns", "vault/1ns", "vault/2ns", "vault/3ns", "vault/4ns"}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("open #%d: schema_migrations = %v, want %v", i+1, got, want)
		}
		if rev, err := s.Revision(ctx); err != nil || rev != 0 {
			t.Fatalf("open #%d: revision = %d, %v; want 0", i+1, rev, err)
		}
		s.Close()
	}
}

func TestOpen_RefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "portcullis.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.w.ExecContext(ctx, `INSERT INTO schema_migrations (component, version, applied_at) VALUES ('directory', 99, 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, path); err == nil {
		s.Close()
		t.Fatal("Open accepted a database whose schema is newer than the binary")
	}
}

func TestOpen_FilesAreOwnerOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, filepath.Join(dir, "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTenant(ctx, directory.Tenant{ID: "t", Name: "t"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"portcullis.db", "portcullis.db-wal", "portcullis.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, perm)
		}
	}
}

func TestOpen_Pragmas(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", busyTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.pragma, func(t *testing.T) {
			err := s.core.DB().Write(ctx, func(q sqlstore.Querier) error {
				var got string
				if _, err := sqlstore.QueryOne(ctx, q, "PRAGMA "+tc.pragma, nil, &got); err != nil {
					return err
				}
				if got != tc.want {
					t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpen_PathWithURISyntax(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "odd?name#x%20.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
	if err := s.CreateTenant(ctx, directory.Tenant{ID: "t", Name: "t"}); err != nil {
		t.Fatal(err)
	}
}

// TestOpen_GivesTheAuditLogOfAnEarlierVersionRecordIDs: a database whose
// vault schema is at version 3 (as the binaries before audit record IDs
// left it), holding audit rows, is migrated by Open: the rows stay, with
// no ID, and records written from then on are stored once per ID.
func TestOpen_GivesTheAuditLogOfAnEarlierVersionRecordIDs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "portcullis.db")
	var old sqlstore.Migrations
	for _, c := range migrations.Components() {
		steps := migrations.Steps(c)
		if c == sqlstore.ComponentVault {
			steps = steps[:3]
		}
		old.Register(c, steps...)
	}
	s, err := open(ctx, path, &old)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixMicro()
	for _, req := range []string{"old-1", "old-2"} {
		if _, err := s.db.w.ExecContext(ctx, `INSERT INTO vault_audit (vault_key, at, request_id, tenant_id, app_id, object_id, vault, type, name, version, operation, outcome, code, reason)
VALUES ('default', ?, ?, '', 'app', '', 'default', 'secrets', 's', '', 'secrets/getSecret', 'success', '', '')`, at, req); err != nil {
			t.Fatalf("a row as version 3 wrote it: %v", err)
		}
	}
	s.Close()

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("open the database of version 3: %v", err)
	}
	defer s.Close()
	rec := vault.AuditRecord{ID: "new-1", Time: time.Unix(at/1e6+60, 0).UTC(), RequestID: "new-1", Vault: "default", Type: vault.Secrets, Name: "s",
		Operation: string(vault.PermSecretsGet), Outcome: vault.OutcomeSuccess}
	for i := range 2 { // the second is a replay
		if err := s.AppendAudit(ctx, rec); err != nil {
			t.Fatalf("append #%d after the migration: %v", i+1, err)
		}
	}
	var version, nulls int64
	var index string
	for _, q := range []struct {
		query string
		dest  any
	}{
		{`SELECT MAX(version) FROM schema_migrations WHERE component = 'vault'`, &version},
		{`SELECT COUNT(*) FROM vault_audit WHERE record_id IS NULL`, &nulls},
		{`SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'vault_audit_record_id'`, &index},
	} {
		if err := s.db.r.QueryRowContext(ctx, q.query).Scan(q.dest); err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
	}
	recs, err := s.ListAudit(ctx, vault.AuditQuery{Vault: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.RequestID+"="+r.ID)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"vault schema version", version, int64(4)},
		{"rows of version 3 without ID", nulls, int64(2)},
		{"unique index", strings.Contains(index, "UNIQUE INDEX") && strings.Contains(index, "record_id IS NOT NULL"), true},
		{"log, newest first", strings.Join(got, " "), "new-1=new-1 old-2= old-1="},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}
