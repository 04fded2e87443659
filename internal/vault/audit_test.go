package vault_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store/sqlite/sqlitetest"
	"github.com/portcullis/portcullis/internal/vault"
)

// sqliteService is a Service over a real SQLite store, with st wrapped by
// wrap when it is not nil.
func sqliteService(t *testing.T, wrap func(vault.Store) vault.Store, opts ...func(*vault.Config)) (*vault.Service, vault.Store) {
	t.Helper()
	var st vault.Store = sqlitetest.Open(t)
	if wrap != nil {
		st = wrap(st)
	}
	cfg := vault.Config{Store: st, Sealer: seal.NewSealer(rootKey(t)), Logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := vault.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	if _, err := svc.EnsureDefault(context.Background()); err != nil {
		t.Fatal(err)
	}
	return svc, st
}

// longFlush keeps read records queued (they are committed by a Flush, a
// synchronous record or Close well before it passes).
func longFlush(c *vault.Config) { c.AuditFlushInterval = time.Second }

func auditOf(t *testing.T, st vault.Store) []vault.AuditRecord {
	t.Helper()
	recs, err := st.ListAudit(context.Background(), vault.AuditQuery{Vault: "default"})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func count(recs []vault.AuditRecord, op vault.Permission, name string) int {
	n := 0
	for _, r := range recs {
		if r.Operation == string(op) && r.Name == name {
			n++
		}
	}
	return n
}

func TestAudit_EveryReadIsStoredAfterFlush(t *testing.T) {
	svc, st := sqliteService(t, nil, longFlush)
	ctx := context.Background()
	if _, err := svc.SetSecret(ctx, admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("v")}); err != nil {
		t.Fatal(err)
	}
	const workers, reads = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := vault.Caller{Admin: true, RequestID: fmt.Sprint("w", w)}
			for range reads {
				if _, err := svc.GetSecret(ctx, c, "default", "s", ""); err != nil {
					t.Error(err)
					return
				}
			}
			// A denied and a failed read are audited too.
			_, _ = svc.GetSecret(ctx, vault.Caller{Principal: guard.Principal{AppID: "nobody"}}, "default", "s", "")
			_, _ = svc.GetSecret(ctx, c, "default", "missing", "")
		}()
	}
	wg.Wait()
	if err := svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs := auditOf(t, st)
	for _, tc := range []struct {
		name, object string
		outcome      string
		want         int
	}{
		{"successful reads", "s", vault.OutcomeSuccess, workers * reads},
		{"denied reads", "s", vault.OutcomeDenied, workers},
		{"failed reads", "missing", vault.OutcomeFailed, workers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			for _, r := range recs {
				if r.Operation == string(vault.PermSecretsGet) && r.Name == tc.object && r.Outcome == tc.outcome {
					n++
				}
			}
			if n != tc.want {
				t.Fatalf("%d records, want %d", n, tc.want)
			}
		})
	}
}

func TestAudit_ChangesAreStoredBeforeTheyReturn(t *testing.T) {
	svc, st := sqliteService(t, nil, longFlush)
	ctx := context.Background()
	must[vault.Secret](t)(svc.SetSecret(ctx, admin, "default", "a", vault.SecretInput{Value: vault.NewStringValue("v")}))
	must[vault.Secret](t)(svc.GetSecret(ctx, admin, "default", "a", ""))
	must[vault.Secret](t)(svc.DeleteSecret(ctx, admin, "default", "a"))
	ra := must[vault.RoleAssignment](t)(svc.AssignRole(ctx, admin, vault.RoleAssignment{Vault: "default", PrincipalID: "p", Role: vault.RoleSecretsUser}))
	if err := svc.RemoveRoleAssignment(ctx, admin, "default", ra.ID); err != nil {
		t.Fatal(err)
	}
	// No Flush: read straight from the store.
	recs := auditOf(t, st)
	var ops []string
	for i := len(recs) - 1; i >= 0; i-- {
		ops = append(ops, recs[i].Operation)
	}
	// The read queued before the delete is committed with it, in order.
	want := fmt.Sprint([]vault.Permission{vault.PermSecretsSet, vault.PermSecretsGet, vault.PermSecretsDelete, vault.PermRoleAssignmentsWrite, vault.PermRoleAssignmentsWrite})
	if fmt.Sprint(ops) != want {
		t.Fatalf("audit log = %v, want %v", ops, want)
	}
}

func TestAudit_CloseDrainsTheQueue(t *testing.T) {
	svc, st := sqliteService(t, nil, longFlush)
	ctx := context.Background()
	must[vault.Secret](t)(svc.SetSecret(ctx, admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("v")}))
	for range 100 {
		must[vault.Secret](t)(svc.GetSecret(ctx, admin, "default", "s", ""))
	}
	if err := svc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(auditOf(t, st), vault.PermSecretsGet, "s"); n != 100 {
		t.Fatalf("%d read records after Close, want 100", n)
	}
	// After Close, operations still work and are audited directly.
	must[vault.Secret](t)(svc.GetSecret(ctx, admin, "default", "s", ""))
	if n := count(auditOf(t, st), vault.PermSecretsGet, "s"); n != 101 {
		t.Fatalf("%d read records after a read past Close, want 101", n)
	}
	if err := svc.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := svc.Flush(ctx); err != nil {
		t.Fatalf("Flush after Close: %v", err)
	}
}

// gatedStore holds every AppendAudit until the gate opens.
type gatedStore struct {
	vault.Store
	gate    chan struct{}
	entered chan struct{}
	once    sync.Once
}

func (g *gatedStore) AppendAudit(ctx context.Context, recs ...vault.AuditRecord) error {
	g.once.Do(func() { close(g.entered) })
	<-g.gate
	return g.Store.AppendAudit(ctx, recs...)
}

func TestAudit_FullQueueBlocksAndLosesNothing(t *testing.T) {
	var gs *gatedStore
	svc, st := sqliteService(t, func(s vault.Store) vault.Store {
		gs = &gatedStore{Store: s, gate: make(chan struct{}), entered: make(chan struct{})}
		close(gs.gate) // open while the service is set up
		return gs
	}, func(c *vault.Config) { c.AuditQueueSize = 2 })
	ctx := context.Background()
	must[vault.Secret](t)(svc.SetSecret(ctx, admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("v")}))
	if err := svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	gs.gate, gs.entered, gs.once = make(chan struct{}), make(chan struct{}), sync.Once{}

	const readers = 40
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := svc.GetSecret(ctx, admin, "default", "s", ""); err != nil {
				t.Error(err)
			}
		}()
	}
	<-gs.entered // the writer is stuck in the store with a batch; the queue fills up behind it
	close(gs.gate)
	wg.Wait()
	if err := svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(auditOf(t, st), vault.PermSecretsGet, "s"); n != readers {
		t.Fatalf("%d read records, want %d", n, readers)
	}
}

// refusingStore refuses any batch holding a record for object "poison".
type refusingStore struct{ vault.Store }

func (r refusingStore) AppendAudit(ctx context.Context, recs ...vault.AuditRecord) error {
	for _, rec := range recs {
		if rec.Name == "poison" {
			return errors.New("record refused")
		}
	}
	return r.Store.AppendAudit(ctx, recs...)
}

func TestAudit_ARefusedRecordDoesNotBlockTheOthers(t *testing.T) {
	svc, st := sqliteService(t, func(s vault.Store) vault.Store { return refusingStore{s} }, longFlush)
	ctx := context.Background()
	must[vault.Secret](t)(svc.SetSecret(ctx, admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("v")}))
	must[vault.Secret](t)(svc.GetSecret(ctx, admin, "default", "s", ""))
	_, _ = svc.GetSecret(ctx, admin, "default", "poison", "")
	must[vault.Secret](t)(svc.GetSecret(ctx, admin, "default", "s", ""))
	if err := svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs := auditOf(t, st)
	if n := count(recs, vault.PermSecretsGet, "s"); n != 2 {
		t.Fatalf("%d read records of s, want 2", n)
	}
	if n := count(recs, vault.PermSecretsGet, "poison"); n != 0 {
		t.Fatalf("%d records of the refused read, want 0", n)
	}
}

func TestAudit_AuditLogShowsQueuedReads(t *testing.T) {
	svc, _ := sqliteService(t, nil, longFlush)
	ctx := context.Background()
	must[vault.Secret](t)(svc.SetSecret(ctx, admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("v")}))
	must[vault.Secret](t)(svc.GetSecret(ctx, admin, "default", "s", ""))
	recs := must[[]vault.AuditRecord](t)(svc.AuditLog(ctx, admin, "default", 0))
	if count(recs, vault.PermSecretsGet, "s") != 1 {
		t.Fatalf("AuditLog = %+v, want the queued read", recs)
	}
}

func TestNew_RefusesBadAuditSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*vault.Config)
	}{
		{"negative interval", func(c *vault.Config) { c.AuditFlushInterval = -time.Millisecond }},
		{"interval over a second", func(c *vault.Config) { c.AuditFlushInterval = 2 * time.Second }},
		{"negative queue", func(c *vault.Config) { c.AuditQueueSize = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := vault.Config{Store: sqlitetest.Open(t), Sealer: seal.NewSealer(rootKey(t))}
			tc.cfg(&cfg)
			if _, err := vault.New(cfg); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}
