package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/vault"
)

func TestVault_PreparedReadsWorkForAnyNumberOfStores(t *testing.T) {
	ctx := context.Background()
	open := func(t *testing.T, dir string, i int) *Store {
		t.Helper()
		s, err := Open(ctx, filepath.Join(dir, fmt.Sprint(i, ".db")))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateVault(ctx, vault.Vault{Name: "v", SoftDeleteRetentionDays: 90, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		ver := vault.ObjectVersion{Vault: "v", Type: vault.Secrets, Name: "s", Version: fmt.Sprintf("%032x", i+1), Created: time.Now(), Updated: time.Now(), Enabled: true, Sealed: []byte{byte(i)}}
		if _, err := s.AddVersion(ctx, ver, vault.AddOptions{}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	read := func(t *testing.T, s *Store, i int) {
		t.Helper()
		for range 2 { // the second read runs the kept statement
			_, ver, err := s.GetObjectVersion(ctx, "v", vault.Secrets, "s", "")
			if err != nil || len(ver.Sealed) != 1 || ver.Sealed[0] != byte(i) {
				t.Fatalf("store %d: %+v, %v", i, ver, err)
			}
		}
	}
	for _, tc := range []struct {
		name      string
		keepOpen  bool
		instances int
	}{
		{"stores opened and closed one after another", false, 3 * maxPreparedPools},
		{"more stores open at once than the registry holds", true, 2 * maxPreparedPools},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stores []*Store
			dir := t.TempDir()
			for i := range tc.instances {
				s := open(t, dir, i)
				read(t, s, i)
				if tc.keepOpen {
					stores = append(stores, s)
				} else {
					s.Close()
				}
			}
			for i, s := range stores {
				read(t, s, i)
				s.Close()
			}
		})
	}
}
