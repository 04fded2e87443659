package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store/postgres"
	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
	"github.com/portcullis/portcullis/internal/store/sqlstore"
	"github.com/portcullis/portcullis/internal/store/storetest"
	"github.com/portcullis/portcullis/internal/vault"
)

func TestConformance(t *testing.T) {
	pgtest.RequireDatabase(t)
	storetest.Run(t, func(t *testing.T) storetest.Backend { return pgtest.Open(t) })
}

func TestOpen_HonoursSearchPathInURL(t *testing.T) {
	u := pgtest.NewDatabaseURL(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := postgres.PoolOf(s).Config().ConnConfig.RuntimeParams["search_path"]
	if want == "" {
		t.Fatalf("the test URL %q carries no search_path", u)
	}
	var schema string
	if err := postgres.PoolOf(s).QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if schema != want {
		t.Fatalf("current_schema() = %q, want %q from the URL", schema, want)
	}
	var n int
	if err := postgres.PoolOf(s).QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ('tenants', 'schema_migrations', 'revision')`, want).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("found %d of the 3 expected tables in schema %s", n, want)
	}
}

func TestOpen_MigrationIsIdempotentAndConcurrent(t *testing.T) {
	u := pgtest.NewDatabaseURL(t)
	ctx := context.Background()
	// Several nodes starting at once on an empty schema: the advisory lock
	// lets exactly one migrate and the others find the work done.
	const nodes = 4
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	for range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(ctx, u)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
	}
	s, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer s.Close()
	rows, err := postgres.PoolOf(s).Query(ctx, `SELECT component || '/' || version FROM schema_migrations ORDER BY component, version`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if fmt.Sprint(got) != "[audit/1 cluster/1 core/1 directory/1 directory/2 directory/3 directory/4 directory/5 directory/6 vault/1 vault/2 vault/3 vault/4]" {
		t.Fatalf("schema_migrations = %v", got)
	}
	if rev, err := s.Revision(ctx); err != nil || rev != 0 {
		t.Fatalf("revision = %d, %v; want 0", rev, err)
	}
}

func TestOpen_RefusesNewerSchema(t *testing.T) {
	u := pgtest.NewDatabaseURL(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.PoolOf(s).Exec(ctx, `INSERT INTO schema_migrations (component, version, applied_at) VALUES ('directory', 99, now())`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := postgres.Open(ctx, u); err == nil {
		s.Close()
		t.Fatal("Open accepted a database whose schema is newer than the binary")
	}
}

func TestTwoNodes_SeeEachOthersWrites(t *testing.T) {
	u := pgtest.NewDatabaseURL(t)
	ctx := context.Background()
	a, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.CreateTenant(ctx, directory.Tenant{ID: "t1", Name: "Contoso", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if rev, err := b.Revision(ctx); err != nil || rev != 1 {
		t.Fatalf("node b revision = %d, %v; want 1", rev, err)
	}
	err = b.CreateTenant(ctx, directory.Tenant{ID: "t2", Name: "CONTOSO"})
	if err == nil {
		t.Fatal("node b created a tenant whose name node a holds")
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if ok, err := a.TryLease(ctx, "rotation", "a", time.Minute, now); err != nil || !ok {
		t.Fatalf("node a lease = %v, %v", ok, err)
	}
	if ok, err := b.TryLease(ctx, "rotation", "b", time.Minute, now); err != nil || ok {
		t.Fatalf("node b lease = %v, %v; want refused", ok, err)
	}
}

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE x = ? AND y = ?", "SELECT a FROM t WHERE x = $1 AND y = $2"},
		{"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := postgres.Rebind(tc.in); got != tc.want {
				t.Fatalf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(pgtest.DatabaseEnv) == "" {
		fmt.Println("PostgreSQL tests skipped: " + pgtest.DatabaseEnv + " not set; e.g. " + pgtest.DatabaseEnv + "='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'")
	}
	os.Exit(m.Run())
}

// TestOpen_GivesTheAuditLogOfAnEarlierVersionRecordIDs: a database whose
// vault schema is at version 3 (as the binaries before audit record IDs
// left it), holding audit rows, is migrated by Open: the rows stay, with
// no ID, and records written from then on are stored once per ID.
func TestOpen_GivesTheAuditLogOfAnEarlierVersionRecordIDs(t *testing.T) {
	u := pgtest.NewDatabaseURL(t)
	ctx := context.Background()
	s, err := postgres.OpenAt(ctx, u, sqlstore.ComponentVault, 3)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, req := range []string{"old-1", "old-2"} {
		if _, err := postgres.PoolOf(s).Exec(ctx, `INSERT INTO vault_audit (vault_key, at, request_id, tenant_id, app_id, object_id, vault, type, name, version, operation, outcome, code, reason)
VALUES ('default', $1, $2, '', 'app', '', 'default', 'secrets', 's', '', 'secrets/getSecret', 'success', '', '')`, at, req); err != nil {
			t.Fatalf("a row as version 3 wrote it: %v", err)
		}
	}
	s.Close()

	s, err = postgres.Open(ctx, u)
	if err != nil {
		t.Fatalf("open the database of version 3: %v", err)
	}
	defer s.Close()
	rec := vault.AuditRecord{ID: "new-1", Time: at.Add(time.Minute), RequestID: "new-1", Vault: "default", Type: vault.Secrets, Name: "s",
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
		{`SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'vault_audit_record_id'`, &index},
	} {
		if err := postgres.PoolOf(s).QueryRow(ctx, q.query).Scan(q.dest); err != nil {
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
