// Package pgtest gives the tests of any package an isolated PostgreSQL
// schema in the database named by PORTCULLIS_TEST_POSTGRES, and skips them,
// saying how to run them, when it is unset. It imports package testing, so
// only test files import it.
package pgtest

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

	"github.com/portcullis/portcullis/internal/store/postgres"
)

// DatabaseEnv names the environment variable holding the URL of the
// PostgreSQL database that tests may use, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const DatabaseEnv = "PORTCULLIS_TEST_POSTGRES"

// NewDatabaseURL creates a fresh schema with a random name in the
// database named by PORTCULLIS_TEST_POSTGRES, drops it (with everything in
// it) when the test ends, and returns a URL whose search_path selects it, so
// that every test, in every package, works on its own isolated tables. Give
// the URL to Open (or to several nodes of a cluster test). It skips the test
// when the variable is unset.
func NewDatabaseURL(t testing.TB) string {
	t.Helper()
	base := RequireDatabase(t)
	var b [8]byte
	rand.Read(b[:])
	schema := "portcullis_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", DatabaseEnv, err)
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

// RequireDatabase returns the URL in PORTCULLIS_TEST_POSTGRES, skipping the
// test, with a message saying how to run it, when the variable is unset.
func RequireDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv(DatabaseEnv)
	if base == "" {
		t.Skip(DatabaseEnv + " not set: set it to a PostgreSQL URL, e.g. " +
			DatabaseEnv + "='postgres://postgres@127.0.0.1:5432/test?sslmode=disable', to run the PostgreSQL tests")
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

// Open opens a Store on a fresh schema from NewDatabaseURL and closes it
// when the test ends (before the schema is dropped). It skips the test when
// PORTCULLIS_TEST_POSTGRES is unset.
func Open(t testing.TB) *postgres.Store {
	t.Helper()
	return OpenURL(t, NewDatabaseURL(t))
}

// OpenURL opens a Store on the database at url (from NewDatabaseURL; a
// second Store on the same url is a second node) and closes it when the
// test ends, before the schema is dropped.
func OpenURL(t testing.TB, url string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
