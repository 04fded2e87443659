package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store/sqlite/sqlitetest"
)

// recorder is a Component that keeps what it was given and fails while
// fail is set.
type recorder struct {
	updates []Update
	fail    bool
}

func (c *recorder) Apply(u Update) error {
	if c.fail {
		return errors.New("component refused the update")
	}
	c.updates = append(c.updates, u)
	return nil
}

func TestReload_EveryComponentGetsEachRevisionIncrementallyAfterTheFirstLoad(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	a, b := &recorder{}, &recorder{}
	r := &reloader{store: st, components: []Component{a, b}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	tn := directory.Tenant{ID: uuid.NewString(), Name: "contoso", CreatedAt: time.Now()}
	if err := st.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if err := r.reload(ctx); err != nil {
		t.Fatal(err)
	}
	if len(a.updates) != 1 || a.updates[0].Changes != nil {
		t.Fatalf("first reload: %d updates, changes %v; want one full load", len(a.updates), a.updates[0].Changes)
	}

	app := directory.Application{TenantID: tn.ID, AppID: uuid.NewString(), ObjectID: uuid.NewString(), DisplayName: "orders"}
	if err := st.CreateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	b.fail = true
	if err := r.reload(ctx); err == nil {
		t.Fatal("reload with a failing component succeeded")
	}
	b.fail = false
	if err := r.reload(ctx); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*recorder{"first": a, "second": b} {
		last := c.updates[len(c.updates)-1]
		if last.Changes == nil || len(last.Changes.Applications) != 1 {
			t.Fatalf("%s component: last update %+v; want the one changed application", name, last.Changes)
		}
		if _, ok := last.Directory.Application(tn.ID, app.AppID); !ok {
			t.Fatalf("%s component: the new application is not in the snapshot", name)
		}
	}
	if got := len(b.updates); got != 2 {
		t.Fatalf("second component got %d updates; want 2 (the failed one is retried, not skipped)", got)
	}

	n := len(a.updates)
	if err := r.reload(ctx); err != nil {
		t.Fatal(err)
	}
	if len(a.updates) != n {
		t.Fatal("a reload without a store change gave the components an update")
	}
}

func TestReload_ReadsEverythingAgainOnceTheLastFullReadIsOld(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	c := &recorder{}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &reloader{store: st, components: []Component{c}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: func() time.Time { return now }}
	tn := directory.Tenant{ID: uuid.NewString(), Name: "contoso", CreatedAt: now}
	write := func(name string) {
		t.Helper()
		if err := st.CreateApplication(ctx, directory.Application{TenantID: tn.ID, AppID: uuid.NewString(), ObjectID: uuid.NewString(), DisplayName: name}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		advance  time.Duration
		wantFull bool
	}{
		{0, true}, // first load
		{fullReloadInterval - time.Second, false}, // deltas
		{time.Second, true},                       // the full read is fullReloadInterval old
		{fullReloadInterval / 2, false},           // deltas again
	} {
		now = now.Add(tc.advance)
		write(fmt.Sprint("app-", i))
		if err := r.reload(ctx); err != nil {
			t.Fatal(err)
		}
		last := c.updates[len(c.updates)-1]
		if full := last.Changes == nil; full != tc.wantFull {
			t.Fatalf("reload %d (+%v): full read %v; want %v", i, tc.advance, full, tc.wantFull)
		}
	}
}
