package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// openTest opens a Store on a new database file in t.TempDir() and closes
// it when the test ends. (Tests of other packages use sqlitetest.Open,
// which this package's own tests cannot import.)
func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "portcullis.db"))
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
