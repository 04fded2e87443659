package vault_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/vault"
)

// faultyStore fails AddVersion, or the removal of a certificate
// operation's record, while told to: a node that stops mid-issuance.
type faultyStore struct {
	vault.Store
	failAdd    atomic.Bool
	failDelete atomic.Bool
}

var errDiskGone = errors.New("disk gone")

func (f *faultyStore) AddVersion(ctx context.Context, v vault.ObjectVersion, opts vault.AddOptions) (vault.ObjectVersion, error) {
	if f.failAdd.Load() {
		return vault.ObjectVersion{}, errDiskGone
	}
	return f.Store.AddVersion(ctx, v, opts)
}

func (f *faultyStore) DeleteSetting(ctx context.Context, vaultName string, kind vault.SettingKind, name string) (vault.Setting, error) {
	if f.failDelete.Load() && kind == vault.SettingPending {
		return vault.Setting{}, errDiskGone
	}
	return f.Store.DeleteSetting(ctx, vaultName, kind, name)
}

// opsEnv is an env whose store can fail as a stopping node's does.
type opsEnv struct {
	*env
	sealer vault.Sealer
	st     *faultyStore
}

func newOpsEnv(t *testing.T) *opsEnv {
	t.Helper()
	var sealer vault.Sealer
	e := newEnv(t, func(c *vault.Config) { sealer = c.Sealer })
	return &opsEnv{env: e, sealer: sealer, st: &faultyStore{Store: e.store}}
}

// node returns another service over the store (a second node, or the
// first after a restart), through the faulty store, sharing the clock.
func (e *opsEnv) node(t *testing.T) *vault.Service {
	t.Helper()
	svc, err := vault.New(vault.Config{Store: e.st, Sealer: e.sealer, Now: e.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// waitOperation polls certificate name's operation until it is no longer
// inProgress (issuance runs in the background) and returns it.
func waitOperation(t *testing.T, svc *vault.Service, name string) vault.CertificateOperation {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for {
		op, err := svc.GetCertificateOperation(context.Background(), admin, "default", name)
		if err != nil {
			t.Fatalf("GetCertificateOperation(%s): %v", name, err)
		}
		if op.Status != vault.StatusInProgress {
			return op
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("operation of %s still inProgress after a minute", name)
		}
	}
}

func leafPolicy(issuer string) *vault.CertificatePolicy {
	return &vault.CertificatePolicy{
		KeyProperties:  &vault.KeyProperties{KeyType: "EC", Curve: "P-256"},
		X509Properties: &vault.X509Properties{Subject: "CN=op.example.test", ValidityMonths: 3},
		Issuer:         &vault.IssuerParameters{Name: issuer},
	}
}

func TestCertificateOperation_ProgressesFromInProgressToCompleted(t *testing.T) {
	for _, issuer := range []string{vault.IssuerSelf, "ops-ca"} {
		t.Run(issuer, func(t *testing.T) {
			e := newEnv(t)
			newCA(t, e, "ops-ca", vault.IssuerSelf, 12)
			op := must[vault.CertificateOperation](t)(e.svc.BeginCreateCertificate(e.ctx, admin, "default", "leaf", vault.CertificateCreate{Policy: leafPolicy(issuer)}))
			if op.Status != vault.StatusInProgress || op.IssuerName != issuer || op.RequestID != admin.RequestID || op.Version != "" {
				t.Fatalf("create answered %+v, want inProgress without a version yet", op)
			}
			done := waitOperation(t, e.svc, "leaf")
			cert := must[vault.Certificate](t)(e.svc.GetCertificate(e.ctx, admin, "default", "leaf", ""))
			if done.Status != vault.StatusCompleted || done.Version != cert.Version || done.IssuerName != issuer || len(done.CSR) == 0 || done.RequestID != admin.RequestID {
				t.Fatalf("completed operation %+v, newest version %s", done, cert.Version)
			}
			if want := map[string]string{vault.IssuerSelf: "CN=op.example.test", "ops-ca": "CN=ops-ca"}[issuer]; parseCER(t, cert).Issuer.String() != want {
				t.Fatalf("issued by %s, want %s", parseCER(t, cert).Issuer, want)
			}
		})
	}
}

func TestCertificateOperation_InterruptedIssuanceIsResumedOnceItsClaimLapses(t *testing.T) {
	e := newOpsEnv(t)
	st, node1 := e.st, e.node(t)
	st.failAdd.Store(true)
	op := must[vault.CertificateOperation](t)(node1.BeginCreateCertificate(e.ctx, admin, "default", "crash", vault.CertificateCreate{Policy: leafPolicy(vault.IssuerSelf)}))
	if op.Status != vault.StatusInProgress {
		t.Fatalf("create answered %s", op.Status)
	}
	// Close waits for the background issuance, which failed on the store.
	if err := node1.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := must[vault.CertificateOperation](t)(e.svc.GetCertificateOperation(e.ctx, admin, "default", "crash")); got.Status != vault.StatusInProgress {
		t.Fatalf("after a failed store write the operation is %s, want still inProgress", got.Status)
	}
	_, err := e.svc.BeginCreateCertificate(e.ctx, admin, "default", "crash", vault.CertificateCreate{Policy: leafPolicy(vault.IssuerSelf)})
	wantErr(t, err, vault.KindConflict, "pending operation")

	st.failAdd.Store(false)
	if n, err := e.svc.ResumeCertificateOperations(e.ctx); err != nil || n != 0 {
		t.Fatalf("resume while the claim holds: %d, %v; want 0 (node1 may still be issuing)", n, err)
	}
	e.clock.Advance(3 * time.Minute)
	if n, err := e.svc.ResumeCertificateOperations(e.ctx); err != nil || n != 1 {
		t.Fatalf("resume after the claim lapsed: %d, %v; want 1", n, err)
	}
	done := must[vault.CertificateOperation](t)(e.svc.GetCertificateOperation(e.ctx, admin, "default", "crash"))
	if done.Status != vault.StatusCompleted || done.RequestID != admin.RequestID {
		t.Fatalf("resumed operation %+v", done)
	}
	if n, err := e.svc.ResumeCertificateOperations(e.ctx); err != nil || n != 0 {
		t.Fatalf("second resume: %d, %v; want 0", n, err)
	}
}

func TestCertificateOperation_ResumeAfterTheVersionWasStoredDoesNotIssueAgain(t *testing.T) {
	e := newOpsEnv(t)
	st, node1 := e.st, e.node(t)
	st.failDelete.Store(true) // the node stops between storing the version and removing the record
	must[vault.CertificateOperation](t)(node1.BeginCreateCertificate(e.ctx, admin, "default", "half", vault.CertificateCreate{Policy: leafPolicy(vault.IssuerSelf)}))
	if err := node1.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	issued := must[vault.Certificate](t)(e.svc.GetCertificate(e.ctx, admin, "default", "half", ""))
	// While node1's claim holds, the record is about to be removed: the
	// operation still reads inProgress, as a create of the certificate is
	// still refused as a second operation.
	if op := must[vault.CertificateOperation](t)(e.svc.GetCertificateOperation(e.ctx, admin, "default", "half")); op.Status != vault.StatusInProgress {
		t.Fatalf("while the claim holds the operation reads %+v, want inProgress", op)
	}
	_, err := e.svc.BeginCreateCertificate(e.ctx, admin, "default", "half", vault.CertificateCreate{Policy: leafPolicy(vault.IssuerSelf)})
	wantErr(t, err, vault.KindConflict, "pending operation")
	st.failDelete.Store(false)
	e.clock.Advance(3 * time.Minute)
	if op := must[vault.CertificateOperation](t)(e.svc.GetCertificateOperation(e.ctx, admin, "default", "half")); op.Status != vault.StatusCompleted || op.Version != issued.Version {
		t.Fatalf("before the resume the operation reads %+v; its version is stored and the claim lapsed, so it is completed", op)
	}
	if n, err := e.svc.ResumeCertificateOperations(e.ctx); err != nil || n != 1 {
		t.Fatalf("resume: %d, %v", n, err)
	}
	versions := must[vault.Page[vault.Certificate]](t)(e.svc.ListCertificateVersions(e.ctx, admin, "default", "half", vault.PageRequest{}))
	done := must[vault.CertificateOperation](t)(e.svc.GetCertificateOperation(e.ctx, admin, "default", "half"))
	if len(versions.Items) != 1 || done.Status != vault.StatusCompleted || done.Version != issued.Version {
		t.Fatalf("%d versions, operation %+v; want the one version issued before the stop", len(versions.Items), done)
	}
}

// A finished issuance whose node stopped before removing its record reads
// completed once the claim lapsed; a new create then replaces the record
// instead of being refused as a second operation (it was, seen as a 409
// from the SDKs right after their poller reported completed).
func TestCertificateOperation_ANewCreateReplacesTheRecordOfAFinishedOne(t *testing.T) {
	e := newOpsEnv(t)
	st, node1 := e.st, e.node(t)
	st.failDelete.Store(true)
	must[vault.CertificateOperation](t)(node1.BeginCreateCertificate(e.ctx, admin, "default", "again", vault.CertificateCreate{Policy: leafPolicy(vault.IssuerSelf)}))
	if err := node1.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	st.failDelete.Store(false)
	first := must[vault.Certificate](t)(e.svc.GetCertificate(e.ctx, admin, "default", "again", ""))
	e.clock.Advance(3 * time.Minute)
	if op := must[vault.CertificateOperation](t)(e.svc.GetCertificateOperation(e.ctx, admin, "default", "again")); op.Status != vault.StatusCompleted {
		t.Fatalf("operation %+v, want completed", op)
	}
	op := must[vault.CertificateOperation](t)(e.svc.BeginCreateCertificate(e.ctx, admin, "default", "again", vault.CertificateCreate{Policy: leafPolicy(vault.IssuerSelf)}))
	if op.Status != vault.StatusInProgress {
		t.Fatalf("second create answered %+v", op)
	}
	if err := e.svc.Close(e.ctx); err != nil { // waits for the background issuance
		t.Fatal(err)
	}
	versions := must[vault.Page[vault.Certificate]](t)(e.svc.ListCertificateVersions(e.ctx, admin, "default", "again", vault.PageRequest{}))
	done := must[vault.CertificateOperation](t)(e.svc.GetCertificateOperation(e.ctx, admin, "default", "again"))
	if len(versions.Items) != 2 || done.Status != vault.StatusCompleted || done.Version == first.Version {
		t.Fatalf("%d versions, operation %+v; want a second version issued by the second create", len(versions.Items), done)
	}
}

func TestCertificateOperation_IssuanceThatCannotSucceedIsMarkedFailed(t *testing.T) {
	e := newOpsEnv(t)
	newCA(t, e.env, "ops-ca", vault.IssuerSelf, 12)
	st, node1 := e.st, e.node(t)
	st.failAdd.Store(true)
	must[vault.CertificateOperation](t)(node1.BeginCreateCertificate(e.ctx, admin, "default", "orphan", vault.CertificateCreate{Policy: leafPolicy("ops-ca")}))
	if err := node1.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	st.failAdd.Store(false)
	// The issuer goes away before the operation is resumed.
	must[vault.Issuer](t)(e.svc.DeleteIssuer(e.ctx, admin, "default", "ops-ca"))
	e.clock.Advance(3 * time.Minute)
	if n, err := e.svc.ResumeCertificateOperations(e.ctx); err != nil || n != 0 {
		t.Fatalf("resume: %d, %v; want 0 completed and no retryable error", n, err)
	}
	failed := must[vault.CertificateOperation](t)(e.svc.GetCertificateOperation(e.ctx, admin, "default", "orphan"))
	if failed.Status != vault.StatusFailed || failed.ErrorCode != vault.CodeBadParameter || failed.ErrorMessage == "" {
		t.Fatalf("operation %+v, want failed with the reason", failed)
	}
	must[vault.CertificateOperation](t)(e.svc.DeleteCertificateOperation(e.ctx, admin, "default", "orphan"))
	_, err := e.svc.GetCertificateOperation(e.ctx, admin, "default", "orphan")
	wantErr(t, err, vault.KindNotFound)
}

func TestCertificateOperation_CSRWaitsForItsMergeAndIsNotResumed(t *testing.T) {
	e := newEnv(t)
	must[vault.CertificateOperation](t)(e.svc.BeginCreateCertificate(e.ctx, admin, "default", "csr", vault.CertificateCreate{Policy: leafPolicy(vault.IssuerUnknown)}))
	e.clock.Advance(time.Hour)
	if n, err := e.svc.ResumeCertificateOperations(e.ctx); err != nil || n != 0 {
		t.Fatalf("resume: %d, %v", n, err)
	}
	op := must[vault.CertificateOperation](t)(e.svc.GetCertificateOperation(e.ctx, admin, "default", "csr"))
	if op.Status != vault.StatusInProgress || op.IssuerName != vault.IssuerUnknown || len(op.CSR) == 0 {
		t.Fatalf("operation %+v", op)
	}
}

func TestCertificateOperation_WaitingCreateThatFailsLeavesNoOperation(t *testing.T) {
	e := newOpsEnv(t)
	st, node1 := e.st, e.node(t)
	st.failAdd.Store(true)
	_, err := node1.CreateCertificate(e.ctx, admin, "default", "sync", vault.CertificateCreate{Policy: leafPolicy(vault.IssuerSelf)})
	wantErr(t, err, vault.KindInternal)
	_, err = e.svc.GetCertificateOperation(e.ctx, admin, "default", "sync")
	wantErr(t, err, vault.KindNotFound)
}

func TestCertificateOperation_CancelledIssuanceIsNotResumed(t *testing.T) {
	e := newOpsEnv(t)
	st, node1 := e.st, e.node(t)
	st.failAdd.Store(true)
	must[vault.CertificateOperation](t)(node1.BeginCreateCertificate(e.ctx, admin, "default", "stopped", vault.CertificateCreate{Policy: leafPolicy(vault.IssuerSelf)}))
	if err := node1.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	st.failAdd.Store(false)
	if op := must[vault.CertificateOperation](t)(e.svc.UpdateCertificateOperation(e.ctx, admin, "default", "stopped", true)); op.Status != vault.StatusCancelled || !op.CancellationRequested {
		t.Fatalf("cancel: %+v", op)
	}
	e.clock.Advance(3 * time.Minute)
	if n, err := e.svc.ResumeCertificateOperations(e.ctx); err != nil || n != 0 {
		t.Fatalf("resume: %d, %v", n, err)
	}
	// Nothing was issued: the certificate reads as pending (no version, no
	// CER), as Key Vault shows a certificate whose operation was cancelled.
	if c, err := e.svc.GetCertificate(e.ctx, admin, "default", "stopped", ""); err != nil || !c.Pending || c.Version != "" || len(c.CER) != 0 || c.Attributes.Enabled {
		t.Fatalf("GetCertificate after a cancelled issuance: %+v, %v", c, err)
	}
	_, err := e.svc.MergeCertificate(e.ctx, admin, "default", "stopped", vault.CertificateMerge{X5C: [][]byte{{1}}})
	wantErr(t, err, vault.KindBadRequest, "nothing to merge")
}
