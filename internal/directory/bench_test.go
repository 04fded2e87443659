package directory_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store/sqlite/sqlitetest"
)

// BenchmarkService_CreateApplication measures one registration through the
// service (rules, uniqueness, one transaction) on SQLite with 100 and
// 10,000 applications already registered: its cost must not grow with the
// directory (the whole-directory reload after a write is the server's, and
// not measured here).
func BenchmarkService_CreateApplication(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprint("apps=", n), func(b *testing.B) {
			ctx := context.Background()
			st := sqlitetest.Open(b)
			svc := directory.NewService(st, nil)
			t, err := svc.CreateTenant(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			err = st.UpdateDirectory(ctx, func(tx directory.Tx) error {
				for i := range n {
					id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
					app := directory.Application{TenantID: t.ID, AppID: id, ObjectID: "o" + id, DisplayName: "app-" + id, IdentifierURIs: []string{"api://" + id}}
					if err := tx.CreateApplication(ctx, app); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				i++
				if _, err := svc.CreateApplication(ctx, "bench", directory.NewApplication{DisplayName: fmt.Sprint("new-", i)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
