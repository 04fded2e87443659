package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
)

// BenchmarkDirectorySize measures, through HTTPS on a running dev server
// (SQLite), admin writes (registering one application) and token issuance
// with 100 and with 10,000 applications registered. The applications are
// seeded through the store in one transaction (not what is measured); the
// node then reloads as it would after any write. Writes must cost the same
// at either size: each reload applies the objects that changed, not the
// whole directory.
//
// With PORTCULLIS_TEST_POSTGRES set it runs on PostgreSQL too.
//
//	go test -run '^$' -bench BenchmarkDirectorySize -benchtime 1000x -count 4 ./internal/server
func BenchmarkDirectorySize(b *testing.B) {
	stores := []string{"sqlite"}
	if os.Getenv("PORTCULLIS_TEST_POSTGRES") != "" {
		stores = append(stores, "postgres")
	}
	for _, backend := range stores {
		for _, n := range []int{100, 10_000} {
			b.Run(fmt.Sprintf("store=%s/apps=%d", backend, n), func(b *testing.B) { benchDirectorySize(b, backend, n) })
		}
	}
}

func benchDirectorySize(b *testing.B, backend string, n int) {
	{
		{
			cfg := Config{Dev: true, DataDir: b.TempDir()}
			if backend == "postgres" {
				cfg.DatabaseURL = pgtest.NewDatabaseURL(b)
			}
			r := startServer(b, cfg)
			ctx := context.Background()
			tn, ok := r.srv.sts.Snapshot().Tenant(r.cred.TenantID)
			if !ok {
				b.Fatal("default tenant not served")
			}
			seedStart := time.Now()
			err := r.srv.store.UpdateDirectory(ctx, func(tx directory.Tx) error {
				for i := range n {
					id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
					app := directory.Application{TenantID: tn.ID, AppID: id, ObjectID: "10000000-0000-4000-8000-" + id[24:],
						DisplayName: "seed-" + id, IdentifierURIs: []string{"api://seed-" + id}, CreatedAt: time.Now()}
					if err := tx.CreateApplication(ctx, app); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if err := r.srv.reload(ctx); err != nil {
				b.Fatal(err)
			}
			b.Logf("seeded %d applications in %v", n, time.Since(seedStart).Round(time.Millisecond))
			tok := benchToken(b, r)

			b.Run("adminWrite", func(b *testing.B) {
				for b.Loop() {
					benchApps++
					body, _ := json.Marshal(map[string]any{"displayName": fmt.Sprint("bench-", benchApps)})
					req, _ := http.NewRequest("POST", r.base+"/admin/v1/tenants/default/applications", bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Content-Type", "application/json")
					res, err := r.client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusCreated {
						b.Fatalf("create application: %d", res.StatusCode)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
			})
			b.Run("token", func(b *testing.B) {
				for b.Loop() {
					benchToken(b, r)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
			})
		}
	}
}

// benchApps numbers the applications the benchmark registers.
var benchApps int

// benchToken obtains an admin token with the bootstrap credential.
func benchToken(b *testing.B, r *running) string {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {r.cred.ClientID}, "client_secret": {r.cred.ClientSecret}, "scope": {r.cred.Scope}}
	res, err := r.client.PostForm(r.base+"/"+r.cred.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK {
		b.Fatalf("token: %d %v", res.StatusCode, err)
	}
	return body.AccessToken
}
