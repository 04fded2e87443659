package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store/postgres"
	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
)

// TestReload_TwoNodesOnPostgreSQLConvergeIncrementally has two nodes write
// to one PostgreSQL database at the same time (applications created,
// updated with new roles, deleted; grants created) while each node reloads
// incrementally in a loop; at the end both nodes' snapshots answer exactly
// as a snapshot of a full read does.
func TestReload_TwoNodesOnPostgreSQLConvergeIncrementally(t *testing.T) {
	url := pgtest.NewDatabaseURL(t)
	ctx := context.Background()
	nodes := []*postgres.Store{pgtest.OpenURL(t, url), pgtest.OpenURL(t, url)}
	tn := directory.Tenant{ID: uuid.NewString(), Name: "contoso", CreatedAt: time.Now()}
	if err := nodes[0].CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reloaders := []*reloader{
		{store: nodes[0], components: []Component{&recorder{}}, log: log},
		{store: nodes[1], components: []Component{&recorder{}}, log: log},
	}
	for _, r := range reloaders {
		if err := r.reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	roleID := "00000000-0000-4000-8000-000000000001"
	var mu sync.Mutex
	var apps []string
	var writers, loops sync.WaitGroup
	stop := make(chan struct{})
	for i, st := range nodes {
		writers.Add(1)
		loops.Add(1)
		go func() { // writer
			defer writers.Done()
			r := rand.New(rand.NewPCG(uint64(i), 9))
			for range 60 {
				mu.Lock()
				pick := func() string { return apps[r.IntN(len(apps))] }
				n := len(apps)
				mu.Unlock()
				switch op := r.IntN(6); {
				case op <= 2 || n < 2:
					id := uuid.NewString()
					a := directory.Application{TenantID: tn.ID, AppID: id, ObjectID: uuid.NewString(), DisplayName: id, IdentifierURIs: []string{"api://" + id},
						AppRoles: []directory.AppRole{{ID: roleID, Value: "Data.Read", Enabled: true}}}
					if err := st.CreateApplication(ctx, a); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					apps = append(apps, id)
					mu.Unlock()
				case op == 3:
					mu.Lock()
					id := pick()
					mu.Unlock()
					st.UpdateApplication(ctx, tn.ID, id, func(a *directory.Application) error {
						a.AppRoles = []directory.AppRole{{ID: roleID, Value: fmt.Sprint("Data.", r.IntN(3)), Enabled: r.IntN(2) == 0}}
						return nil
					})
				case op == 4:
					mu.Lock()
					id := pick()
					mu.Unlock()
					st.DeleteApplication(ctx, tn.ID, id)
				default:
					mu.Lock()
					c, res := pick(), pick()
					mu.Unlock()
					st.CreateGrant(ctx, directory.Grant{ID: uuid.NewString(), TenantID: tn.ID, ClientAppID: c, ResourceAppID: res, AppRoleID: roleID, CreatedAt: time.Now()})
				}
			}
		}()
		go func() { // the node's reload loop
			defer loops.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := reloaders[i].reload(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	loops.Wait()
	if t.Failed() {
		return
	}

	state, err := nodes[0].Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := directory.NewSnapshot(state.Revision, state.Tenants, state.Applications, state.Grants, state.APIs)
	for i, r := range reloaders {
		if err := r.reload(ctx); err != nil {
			t.Fatal(err)
		}
		got := r.snap
		if got.Revision != want.Revision {
			t.Fatalf("node %d at revision %d; the store at %d", i, got.Revision, want.Revision)
		}
		for _, a := range apps {
			ga, gok := got.Application(tn.ID, a)
			wa, wok := want.Application(tn.ID, a)
			if gok != wok || (gok && !reflect.DeepEqual(*ga, *wa)) {
				t.Fatalf("node %d: application %s differs from a full read: %v %v / %v %v", i, a, ga, gok, wa, wok)
			}
			for _, res := range apps {
				if g, w := got.GrantedRoles(tn.ID, a, res), want.GrantedRoles(tn.ID, a, res); !slices.Equal(g, w) {
					t.Fatalf("node %d: GrantedRoles(%s → %s) = %v; a full read gives %v", i, a, res, g, w)
				}
			}
		}
	}
}
