package vault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/vault"
)

func TestSecrets_VersionlessGetReturnsNewestAndDisabledIsRefused(t *testing.T) {
	e := newEnv(t)
	v1 := setSecret(t, e, "db-password", "one")
	e.clock.Advance(time.Second)
	v2 := setSecret(t, e, "db-password", "two")
	if v1.Version == v2.Version || len(v2.Version) != 32 {
		t.Fatalf("versions %q %q", v1.Version, v2.Version)
	}
	got := must[vault.Secret](t)(e.svc.GetSecret(e.ctx, admin, "default", "db-password", ""))
	if got.Value.Reveal() != "two" || got.Version != v2.Version {
		t.Fatalf("newest = %s %q", got.Version, got.Value.Reveal())
	}
	old := must[vault.Secret](t)(e.svc.GetSecret(e.ctx, admin, "default", "db-password", v1.Version))
	if old.Value.Reveal() != "one" {
		t.Fatalf("by version = %q", old.Value.Reveal())
	}
	must[vault.Secret](t)(e.svc.UpdateSecret(e.ctx, admin, "default", "db-password", v2.Version, vault.Update{Enabled: ptr(false), Tags: map[string]string{"env": "prod"}}))
	_, err := e.svc.GetSecret(e.ctx, admin, "default", "db-password", "")
	if ve := wantErr(t, err, vault.KindForbidden, "Operation get is not allowed on a disabled secret."); ve.InnerCode != vault.CodeSecretDisabled {
		t.Fatalf("inner code %q", ve.InnerCode)
	}
	// Metadata still lists it, with the new tags; values are never listed.
	page := must[vault.Page[vault.Secret]](t)(e.svc.ListSecretVersions(e.ctx, admin, "default", "db-password", vault.PageRequest{}))
	if len(page.Items) != 2 || page.Items[1].Attributes.Enabled || page.Items[1].Tags["env"] != "prod" || page.Items[0].Value.Len() != 0 {
		t.Fatalf("versions = %+v", page.Items)
	}
	_, err = e.svc.GetSecret(e.ctx, admin, "default", "db-password", strings.Repeat("0", 32))
	if ve := wantErr(t, err, vault.KindNotFound, "db-password"); ve.Code != vault.CodeSecretNotFound {
		t.Fatalf("code %q", ve.Code)
	}
	// nbf/exp are not enforced on get, as in Key Vault.
	exp := must[vault.Secret](t)(e.svc.SetSecret(e.ctx, admin, "default", "old", vault.SecretInput{Value: vault.NewStringValue("x"), Expires: start.Add(-time.Hour), NotBefore: start.Add(-2 * time.Hour)}))
	if got := must[vault.Secret](t)(e.svc.GetSecret(e.ctx, admin, "default", "old", "")); got.Value.Reveal() != "x" || !got.Attributes.Expires.Equal(exp.Attributes.Expires) {
		t.Fatalf("expired get = %+v", got)
	}
}

func TestSecrets_InputValidation(t *testing.T) {
	e := newEnv(t)
	manyTags := map[string]string{}
	for i := range 16 {
		manyTags[fmt.Sprint(i)] = "v"
	}
	for _, tc := range []struct {
		name    string
		secret  string
		in      vault.SecretInput
		wantErr string
	}{
		{"max size accepted", "ok", vault.SecretInput{Value: vault.NewValue(make([]byte, 25600))}, ""},
		{"oversized value", "big", vault.SecretInput{Value: vault.NewValue(make([]byte, 25601))}, "25600"},
		{"empty name", "", vault.SecretInput{}, "1-127"},
		{"128 characters", strings.Repeat("a", 128), vault.SecretInput{}, "1-127"},
		{"127 characters", strings.Repeat("a", 127), vault.SecretInput{}, ""},
		{"underscore", "a_b", vault.SecretInput{}, "0-9, a-z, A-Z, and -"},
		{"dot", "a.b", vault.SecretInput{}, "invalid name"},
		{"unicode", "café", vault.SecretInput{}, "invalid name"},
		{"16 tags", "t", vault.SecretInput{Tags: manyTags}, "at most 15 tags"},
		{"long tag name", "t", vault.SecretInput{Tags: map[string]string{strings.Repeat("k", 513): "v"}}, "512"},
		{"long tag value", "t", vault.SecretInput{Tags: map[string]string{"k": strings.Repeat("v", 257)}}, "256"},
		{"NUL in content type", "t", vault.SecretInput{ContentType: "text/plain\x00"}, "control characters"},
		{"invalid UTF-8 tag", "t", vault.SecretInput{Tags: map[string]string{"k": "\xff"}}, "valid UTF-8"},
		{"15 tags at limits", "t", vault.SecretInput{Tags: map[string]string{strings.Repeat("k", 512): strings.Repeat("v", 256)}}, ""},
		{"exp before nbf", "t", vault.SecretInput{NotBefore: start, Expires: start.Add(-time.Second)}, "must be after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.SetSecret(e.ctx, admin, "default", tc.secret, tc.in)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if ve := wantErr(t, err, vault.KindBadRequest, tc.wantErr); ve.Code != vault.CodeBadParameter {
				t.Fatalf("code %q", ve.Code)
			}
		})
	}
}

func TestSecrets_SoftDeleteLifecycle(t *testing.T) {
	e := newEnv(t)
	setSecret(t, e, "api-key", "s3cr3t")
	del := must[vault.Secret](t)(e.svc.DeleteSecret(e.ctx, admin, "default", "api-key"))
	if del.Deleted == nil || !del.Deleted.DeletedAt.Equal(start) || !del.Deleted.ScheduledPurgeAt.Equal(start.Add(90*24*time.Hour)) || del.Deleted.RecoveryID != "deletedsecrets/api-key" {
		t.Fatalf("deleted = %+v", del.Deleted)
	}
	_, err := e.svc.GetSecret(e.ctx, admin, "default", "api-key", "")
	wantErr(t, err, vault.KindNotFound, "recover")
	_, err = e.svc.SetSecret(e.ctx, admin, "default", "API-KEY", vault.SecretInput{Value: vault.NewStringValue("x")})
	ve := wantErr(t, err, vault.KindConflict, "Secret API-KEY is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.")
	if ve.Code != vault.CodeConflict || ve.InnerCode != vault.CodeObjectIsDeletedButRecoverable {
		t.Fatalf("codes %q/%q", ve.Code, ve.InnerCode)
	}
	_, err = e.svc.DeleteSecret(e.ctx, admin, "default", "api-key")
	wantErr(t, err, vault.KindNotFound)
	listed := must[vault.Page[vault.Secret]](t)(e.svc.ListDeletedSecrets(e.ctx, admin, "default", vault.PageRequest{}))
	if len(listed.Items) != 1 || listed.Items[0].Name != "api-key" || listed.Items[0].Deleted == nil {
		t.Fatalf("deleted list = %+v", listed.Items)
	}
	if live := must[vault.Page[vault.Secret]](t)(e.svc.ListSecrets(e.ctx, admin, "default", vault.PageRequest{})); len(live.Items) != 0 {
		t.Fatalf("deleted secret listed as live: %+v", live.Items)
	}
	must[vault.Secret](t)(e.svc.GetDeletedSecret(e.ctx, admin, "default", "api-key"))
	rec := must[vault.Secret](t)(e.svc.RecoverSecret(e.ctx, admin, "default", "api-key"))
	if rec.Deleted != nil {
		t.Fatal("recovered secret still deleted")
	}
	if got := must[vault.Secret](t)(e.svc.GetSecret(e.ctx, admin, "default", "api-key", "")); got.Value.Reveal() != "s3cr3t" {
		t.Fatalf("recovered value %q", got.Value.Reveal())
	}
	_, err = e.svc.RecoverSecret(e.ctx, admin, "default", "api-key")
	wantErr(t, err, vault.KindNotFound)
	err = e.svc.PurgeSecret(e.ctx, admin, "default", "api-key")
	wantErr(t, err, vault.KindNotFound, "Deleted secret")
	must[vault.Secret](t)(e.svc.DeleteSecret(e.ctx, admin, "default", "api-key"))
	if err := e.svc.PurgeSecret(e.ctx, admin, "default", "api-key"); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.GetDeletedSecret(e.ctx, admin, "default", "api-key")
	wantErr(t, err, vault.KindNotFound)
	if got := setSecret(t, e, "api-key", "fresh"); got.Value.Reveal() != "fresh" {
		t.Fatal("name not reusable after purge")
	}
	if vs := must[vault.Page[vault.Secret]](t)(e.svc.ListSecretVersions(e.ctx, admin, "default", "api-key", vault.PageRequest{})); len(vs.Items) != 1 {
		t.Fatalf("purge left %d versions", len(vs.Items))
	}
}

func TestSecrets_PurgeProtectionRefusesPurgeUntilRetentionEnds(t *testing.T) {
	e := newEnv(t)
	must[vault.Vault](t)(e.svc.CreateVault(e.ctx, admin, vault.VaultInput{Name: "prod", SoftDeleteRetentionDays: 7, PurgeProtection: true}))
	must[vault.Secret](t)(e.svc.SetSecret(e.ctx, admin, "prod", "s", vault.SecretInput{Value: vault.NewStringValue("x")}))
	del := must[vault.Secret](t)(e.svc.DeleteSecret(e.ctx, admin, "prod", "s"))
	if !del.Deleted.ScheduledPurgeAt.Equal(start.Add(7*24*time.Hour)) || del.Attributes.RecoveryLevel != "CustomizedRecoverable" || del.Attributes.RecoverableDays != 7 {
		t.Fatalf("deleted = %+v %+v", del.Deleted, del.Attributes)
	}
	err := e.svc.PurgeSecret(e.ctx, admin, "prod", "s")
	wantErr(t, err, vault.KindForbidden, "purge protection is enabled")
	_, err = e.svc.UpdateVault(e.ctx, admin, "prod", vault.VaultUpdate{PurgeProtection: ptr(false)})
	wantErr(t, err, vault.KindBadRequest, "cannot be turned off")
	if n, err := e.svc.PurgeExpiredDeletions(e.ctx); err != nil || n != 0 {
		t.Fatalf("early auto-purge: %d, %v", n, err)
	}
	e.clock.Advance(7*24*time.Hour + time.Second)
	if n, err := e.svc.PurgeExpiredDeletions(e.ctx); err != nil || n != 1 {
		t.Fatalf("auto-purge = %d, %v", n, err)
	}
	_, err = e.svc.GetDeletedSecret(e.ctx, admin, "prod", "s")
	wantErr(t, err, vault.KindNotFound)
}

func TestVaults_CreateValidation(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name    string
		in      vault.VaultInput
		caller  vault.Caller
		kind    vault.ErrorKind
		message string
	}{
		{"retention too short", vault.VaultInput{Name: "abc", SoftDeleteRetentionDays: 6}, admin, vault.KindBadRequest, "between 7 and 90"},
		{"retention too long", vault.VaultInput{Name: "abc", SoftDeleteRetentionDays: 91}, admin, vault.KindBadRequest, "between 7 and 90"},
		{"bad name", vault.VaultInput{Name: "a_b"}, admin, vault.KindBadRequest, "3-24"},
		{"duplicate", vault.VaultInput{Name: "Default"}, admin, vault.KindConflict, "already exists"},
		{"not admin", vault.VaultInput{Name: "abc"}, vault.Caller{Principal: guard.Principal{AppID: "app"}}, vault.KindForbidden, "administrator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateVault(e.ctx, tc.caller, tc.in)
			wantErr(t, err, tc.kind, tc.message)
		})
	}
	v := must[vault.Vault](t)(e.svc.CreateVault(e.ctx, admin, vault.VaultInput{Name: "Team-A"}))
	if v.Name != "team-a" || v.SoftDeleteRetentionDays != 90 || v.RecoveryLevel() != "Recoverable+Purgeable" {
		t.Fatalf("vault = %+v", v)
	}
	_, err := e.svc.SetSecret(e.ctx, admin, "nope", "s", vault.SecretInput{})
	if ve := wantErr(t, err, vault.KindNotFound, "nope"); ve.Code != vault.CodeVaultNotFound {
		t.Fatalf("code %q", ve.Code)
	}
}

func TestSecrets_100ConcurrentSetsMake100Versions(t *testing.T) {
	e := newEnv(t)
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.SetSecret(e.ctx, admin, "default", "hot", vault.SecretInput{Value: vault.NewStringValue(fmt.Sprint(i))})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]bool{}
	var p vault.PageRequest
	for {
		page := must[vault.Page[vault.Secret]](t)(e.svc.ListSecretVersions(e.ctx, admin, "default", "hot", p))
		for _, s := range page.Items {
			ids[s.Version] = true
		}
		if page.Next == "" {
			break
		}
		p.After = page.Next
	}
	if len(ids) != n {
		t.Fatalf("%d distinct versions, want %d", len(ids), n)
	}
	values := map[string]bool{}
	for id := range ids {
		values[must[vault.Secret](t)(e.svc.GetSecret(e.ctx, admin, "default", "hot", id)).Value.Reveal()] = true
	}
	if len(values) != n {
		t.Fatalf("%d distinct values, want %d", len(values), n)
	}
}

func TestSecrets_ListPagesBy25(t *testing.T) {
	e := newEnv(t)
	for i := range 30 {
		setSecret(t, e, fmt.Sprintf("s%02d", i), "v")
	}
	first := must[vault.Page[vault.Secret]](t)(e.svc.ListSecrets(e.ctx, admin, "default", vault.PageRequest{}))
	if len(first.Items) != 25 || first.Next != "s24" {
		t.Fatalf("first page: %d items, next %q", len(first.Items), first.Next)
	}
	second := must[vault.Page[vault.Secret]](t)(e.svc.ListSecrets(e.ctx, admin, "default", vault.PageRequest{After: first.Next}))
	if len(second.Items) != 5 || second.Next != "" || second.Items[0].Name != "s25" {
		t.Fatalf("second page: %+v", second)
	}
	_, err := e.svc.ListSecrets(e.ctx, admin, "default", vault.PageRequest{MaxResults: 26})
	wantErr(t, err, vault.KindBadRequest, "maxresults")
	_, err = e.svc.ListSecretVersions(e.ctx, admin, "default", "s01", vault.PageRequest{After: "forged"})
	wantErr(t, err, vault.KindBadRequest, "cursor")
}

func TestSecrets_ValuesAreSealedBoundAndNeverAudited(t *testing.T) {
	e := newEnv(t)
	a := setSecret(t, e, "a", "value-of-a-1234567890")
	b := setSecret(t, e, "b", "value-of-b-1234567890")
	for _, s := range []vault.Secret{a, b} {
		ver := must[vault.ObjectVersion](t)(e.store.GetVersion(e.ctx, "default", vault.Secrets, s.Name, s.Version))
		if bytes.Contains(ver.Sealed, []byte("value-of")) {
			t.Fatal("value stored in clear")
		}
	}
	// Swap the blobs: each must refuse to open under the other's name.
	va := must[vault.ObjectVersion](t)(e.store.GetVersion(e.ctx, "default", vault.Secrets, "a", ""))
	vb := must[vault.ObjectVersion](t)(e.store.GetVersion(e.ctx, "default", vault.Secrets, "b", ""))
	if n, err := e.store.ReplaceSealed(e.ctx, []vault.SealedUpdate{{Seq: va.Seq, Old: va.Sealed, New: vb.Sealed}}); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	_, err := e.svc.GetSecret(e.ctx, admin, "default", "a", "")
	ve := wantErr(t, err, vault.KindInternal)
	if strings.Contains(ve.Message, "value-of") {
		t.Fatal("error leaks the value")
	}
	recs := must[[]vault.AuditRecord](t)(e.svc.AuditLog(e.ctx, admin, "default", 0))
	if len(recs) < 3 {
		t.Fatalf("%d audit records", len(recs))
	}
	j, _ := json.Marshal(recs)
	if bytes.Contains(j, []byte("value-of")) {
		t.Fatal("audit holds a value")
	}
	last := recs[0]
	if last.Operation != "secrets/getSecret" || last.Outcome != vault.OutcomeFailed || last.Name != "a" || last.RequestID != "req-admin" || last.Version != "" {
		t.Fatalf("audit record = %+v", last)
	}
	if recs[1].Operation != "secrets/setSecret" || recs[1].Outcome != vault.OutcomeSuccess || recs[1].Version != b.Version {
		t.Fatalf("audit record = %+v", recs[1])
	}
	for _, out := range []string{fmt.Sprint(b.Value), fmt.Sprintf("%+v", b), fmt.Sprintf("%#v", b.Value), fmt.Sprintf("%x", b.Value)} {
		if strings.Contains(out, "value-of") || strings.Contains(out, "76616c7565") {
			t.Fatalf("formatting leaks: %s", out)
		}
	}
	if j, _ := json.Marshal(b); bytes.Contains(j, []byte("value-of")) {
		t.Fatal("JSON leaks the value")
	}
}

// referencesDownStore fails every read of references, as a store that is
// down would.
type referencesDownStore struct{ vault.Store }

func (referencesDownStore) ListReferences(context.Context, string, vault.ObjectType, string) ([]vault.Reference, error) {
	return nil, errors.New("database unreachable")
}

// PurgeExpiredDeletions skips a referenced object silently, but reports a
// store failure to read references instead of skipping the object as if it
// were referenced.
func TestSecrets_PurgeExpiredDeletionsReportsStoreFailures(t *testing.T) {
	e := newEnv(t)
	setSecret(t, e, "doomed", "x")
	must[vault.Secret](t)(e.svc.DeleteSecret(e.ctx, admin, "default", "doomed"))
	e.clock.Advance(vault.DefaultRetentionDays*24*time.Hour + time.Second)
	down, err := vault.New(vault.Config{Store: referencesDownStore{e.store}, Sealer: seal.NewSealer(rootKey(t)), Now: e.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = down.Close(context.Background()) })
	n, err := down.PurgeExpiredDeletions(e.ctx)
	if err == nil || n != 0 {
		t.Fatalf("PurgeExpiredDeletions with references unreadable = %d, %v; want 0 and an error", n, err)
	}
	if _, err := e.svc.GetDeletedSecret(e.ctx, admin, "default", "doomed"); err != nil {
		t.Fatalf("the object was purged although its references could not be read: %v", err)
	}
	if n, err := e.svc.PurgeExpiredDeletions(e.ctx); err != nil || n != 1 {
		t.Fatalf("PurgeExpiredDeletions = %d, %v; want 1", n, err)
	}
}

// conflictingStore refuses every AddVersion as a database constraint would.
type conflictingStore struct{ vault.Store }

func (conflictingStore) AddVersion(context.Context, vault.ObjectVersion, vault.AddOptions) (vault.ObjectVersion, error) {
	return vault.ObjectVersion{}, fmt.Errorf("UNIQUE constraint failed: vault_versions.internal_column: %w", store.ErrConflict)
}

// A store conflict is answered with Conflict in the vault's words; the
// store's own words (tables, constraints) stay in the error's cause.
func TestSecrets_StoreConflictKeepsStoreDetailOutOfTheMessage(t *testing.T) {
	e := newEnv(t)
	svc, err := vault.New(vault.Config{Store: conflictingStore{e.store}, Sealer: seal.NewSealer(rootKey(t)), Now: e.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	_, err = svc.SetSecret(e.ctx, admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("v")})
	ve := wantErr(t, err, vault.KindConflict, "conflicts with an existing object")
	if strings.Contains(ve.Message, "internal_column") || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("conflict error %q (cause %v): want the store's words only in the cause", ve.Message, ve.Err)
	}
}
