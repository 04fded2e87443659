package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// OpenTestStore opens a Store on a new database file in t.TempDir() and
// closes it when the test ends.
func OpenTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "portcullis.db"))
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
