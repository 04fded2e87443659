package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestDatabaseEnv names the environment variable holding the URL of the
// PostgreSQL database that tests may use, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const TestDatabaseEnv = "PORTCULLIS_TEST_POSTGRES"

// NewTestDatabaseURL creates a fresh schema with a random name in the
// database named by PORTCULLIS_TEST_POSTGRES, drops it (with everything in
// it) when the test ends, and returns a URL whose search_path selects it, so
// that every test, in every package, works on its own isolated tables. Give
// the URL to Open (or to several nodes of a cluster test). It skips the test
// when the variable is unset.
func NewTestDatabaseURL(t testing.TB) string {
	t.Helper()
	base := testDatabase(t)
	var b [8]byte
	rand.Read(b[:])
	schema := "portcullis_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", TestDatabaseEnv, err)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create test schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	return withSearchPath(base, schema)
}

// testDatabase returns the URL in PORTCULLIS_TEST_POSTGRES, skipping the
// test, with a message saying how to run it, when the variable is unset.
func testDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv(TestDatabaseEnv)
	if base == "" {
		t.Skip(TestDatabaseEnv + " not set: set it to a PostgreSQL URL, e.g. " +
			TestDatabaseEnv + "='postgres://postgres@127.0.0.1:5432/test?sslmode=disable', to run the PostgreSQL tests")
	}
	return base
}

// withSearchPath adds search_path=schema to a postgres:// URL or a
// keyword/value connection string.
func withSearchPath(base, schema string) string {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		if u, err := url.Parse(base); err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return base + " search_path=" + schema
}

// OpenTestStore opens a Store on a fresh schema from NewTestDatabaseURL and
// closes it when the test ends (before the schema is dropped). It skips the
// test when PORTCULLIS_TEST_POSTGRES is unset.
func OpenTestStore(t testing.TB) *Store {
	t.Helper()
	u := NewTestDatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, u)
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
