package server

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
)

// TestReload_FederatedCredentialsReachEveryNode adds and removes a
// federated identity credential through one node of a PostgreSQL cluster:
// the other node's incremental reload sees each change in its snapshot,
// which is what its token service authenticates against.
func TestReload_FederatedCredentialsReachEveryNode(t *testing.T) {
	url := pgtest.NewDatabaseURL(t)
	ctx := context.Background()
	a, b := pgtest.OpenURL(t, url), pgtest.OpenURL(t, url)
	now := func() time.Time { return time.Now() }
	svc := directory.NewService(a, now)
	tn, err := svc.CreateTenant(ctx, "contoso")
	if err != nil {
		t.Fatal(err)
	}
	app, err := svc.CreateApplication(ctx, "contoso", directory.NewApplication{DisplayName: "orders-deploy"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	other := &reloader{store: b, components: []Component{rec}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := other.reload(ctx); err != nil {
		t.Fatal(err)
	}
	seen := func() []directory.FederatedIdentityCredential {
		t.Helper()
		if err := other.reload(ctx); err != nil {
			t.Fatal(err)
		}
		snap := rec.updates[len(rec.updates)-1].Directory
		got, ok := snap.Application(tn.ID, app.AppID)
		if !ok {
			t.Fatal("the application is not in the other node's snapshot")
		}
		return got.FederatedIdentityCredentials
	}
	if n := len(seen()); n != 0 {
		t.Fatalf("%d credentials before any was added", n)
	}
	fc, err := svc.AddFederatedIdentityCredential(ctx, "contoso", "orders-deploy", directory.FederatedIdentityCredential{
		Name: "github-main", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:contoso/orders:ref:refs/heads/main",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := seen(); len(got) != 1 || got[0].ID != fc.ID || got[0].Subject != fc.Subject || got[0].Audiences[0] != directory.DefaultFederatedAudience {
		t.Fatalf("after add, the other node sees %+v", got)
	}
	if err := svc.RemoveFederatedIdentityCredential(ctx, "contoso", "orders-deploy", "github-main"); err != nil {
		t.Fatal(err)
	}
	if got := seen(); len(got) != 0 {
		t.Fatalf("after remove, the other node still sees %+v", got)
	}
}
