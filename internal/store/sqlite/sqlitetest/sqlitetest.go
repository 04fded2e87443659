// Package sqlitetest opens SQLite stores for the tests of any package. It
// imports package testing, so only test files import it (a test in package
// store keeps it out of the binary).
package sqlitetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/portcullis/portcullis/internal/store/sqlite"
)

// Open opens a Store on a new database file in t.TempDir() and closes it
// when the test ends.
func Open(t testing.TB) *sqlite.Store {
	t.Helper()
	return OpenPath(t, filepath.Join(t.TempDir(), "portcullis.db"))
}

// OpenPath opens a Store on the database file at path (another handle on
// the same file is another node) and closes it when the test ends.
func OpenPath(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
