package vaulttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/vault"
)

// Run is the conformance suite for vault.Store implementations: open must
// return a new, empty store for each call (it is called once per subtest).
func Run(t *testing.T, open func(t *testing.T) vault.Store) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s vault.Store)
	}{
		{"Vaults", testVaults},
		{"VersionsNewestAndByID", testVersions},
		{"ObjectWithVersionInOneRead", testObjectVersion},
		{"AddVersionConflicts", testAddVersionConflicts},
		{"RestoreObjectKeepsVersionsAndOrder", testRestoreObject},
		{"ConcurrentRestoresOfOneNameOneWins", testConcurrentRestore},
		{"ConcurrentAddVersionLosesNothing", testConcurrentAdd},
		{"SoftDeleteStateAndListing", testObjectsState},
		{"UpdateVersionChangesOnlyMutableFields", testUpdateVersion},
		{"PurgeRemovesVersionsAndMarkers", testPurge},
		{"ScanAndReplaceSealed", testScanReplace},
		{"RoleAssignments", testRoleAssignments},
		{"References", testReferences},
		{"Audit", testAudit},
		{"AuditBatchKeepsOrder", testAuditBatch},
		{"AuditRecordWrittenAgainIsStoredOnce", testAuditWrittenAgain},
		{"RevisionMovesOnWrites", testRevision},
		{"LifetimeMarkersFireOnce", testMarkers},
		{"NamesAreCaseInsensitive", testCaseInsensitive},
		{"SettingsPerVault", testSettings},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func mustVault(t *testing.T, s vault.Store, name string) {
	t.Helper()
	if err := s.CreateVault(context.Background(), vault.Vault{Name: name, SoftDeleteRetentionDays: 90, Created: t0}); err != nil {
		t.Fatalf("CreateVault(%s): %v", name, err)
	}
}

func newVersion(v string, typ vault.ObjectType, name string, i int) vault.ObjectVersion {
	return vault.ObjectVersion{
		Vault: v, Type: typ, Name: name, Version: fmt.Sprintf("%032x", i+1), Created: t0.Add(time.Duration(i) * time.Second),
		Updated: t0, Enabled: true, ContentType: "text/plain", Tags: map[string]string{"i": fmt.Sprint(i)},
		Sealed: []byte(fmt.Sprintf("sealed-%d", i)), Public: []byte("pub"), Meta: []byte(`{"k":1}`),
	}
}

func mustAdd(t *testing.T, s vault.Store, v vault.ObjectVersion, opts vault.AddOptions) vault.ObjectVersion {
	t.Helper()
	out, err := s.AddVersion(context.Background(), v, opts)
	if err != nil {
		t.Fatalf("AddVersion(%s/%s/%s): %v", v.Vault, v.Type, v.Name, err)
	}
	return out
}

func testVaults(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "bbb")
	mustVault(t, s, "aaa")
	if err := s.CreateVault(ctx, vault.Vault{Name: "aaa", SoftDeleteRetentionDays: 7}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate vault: %v, want ErrConflict", err)
	}
	if _, err := s.GetVault(ctx, "zzz"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetVault(missing): %v", err)
	}
	vs, err := s.ListVaults(ctx)
	if err != nil || len(vs) != 2 || vs[0].Name != "aaa" || vs[1].Name != "bbb" {
		t.Fatalf("ListVaults = %+v, %v", vs, err)
	}
	got, err := s.UpdateVault(ctx, "aaa", func(v *vault.Vault) error {
		v.PurgeProtection, v.SoftDeleteRetentionDays, v.Name = true, 30, "renamed"
		return nil
	})
	if err != nil || got.Name != "aaa" || !got.PurgeProtection || got.SoftDeleteRetentionDays != 30 {
		t.Fatalf("UpdateVault = %+v, %v", got, err)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateVault(ctx, "aaa", func(v *vault.Vault) error { v.SoftDeleteRetentionDays = 8; return boom }); err != boom {
		t.Fatalf("UpdateVault mutate error = %v", err)
	}
	if v, _ := s.GetVault(ctx, "aaa"); v.SoftDeleteRetentionDays != 30 || !v.Created.Equal(t0) {
		t.Fatalf("failed update changed the vault: %+v", v)
	}
	mustAdd(t, s, newVersion("aaa", vault.Secrets, "x", 0), vault.AddOptions{})
	if err := s.DeleteVault(ctx, "aaa"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("DeleteVault(non-empty) = %v", err)
	}
	if err := s.DeleteVault(ctx, "bbb"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetVault(ctx, "bbb"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted vault still there: %v", err)
	}
}

func testVersions(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "v1")
	var seqs []int64
	for i := range 3 {
		out := mustAdd(t, s, newVersion("v1", vault.Secrets, "s", i), vault.AddOptions{})
		if out.Seq <= 0 || (len(seqs) > 0 && out.Seq <= seqs[len(seqs)-1]) {
			t.Fatalf("Seq %d after %v", out.Seq, seqs)
		}
		seqs = append(seqs, out.Seq)
	}
	newest, err := s.GetVersion(ctx, "v1", vault.Secrets, "s", "")
	if err != nil || newest.Version != fmt.Sprintf("%032x", 3) || string(newest.Sealed) != "sealed-2" {
		t.Fatalf("newest = %+v, %v", newest, err)
	}
	first, err := s.GetVersion(ctx, "v1", vault.Secrets, "s", fmt.Sprintf("%032x", 1))
	if err != nil || string(first.Sealed) != "sealed-0" || first.Tags["i"] != "0" || first.ContentType != "text/plain" ||
		!bytes.Equal(first.Public, []byte("pub")) || !bytes.Equal(first.Meta, []byte(`{"k":1}`)) || !first.Created.Equal(t0) || !first.Enabled {
		t.Fatalf("by id = %+v, %v", first, err)
	}
	if _, err := s.GetVersion(ctx, "v1", vault.Secrets, "s", fmt.Sprintf("%032x", 9)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown version: %v", err)
	}
	if _, err := s.GetVersion(ctx, "v1", vault.Keys, "s", ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other type: %v", err)
	}
	vers, err := s.ListVersions(ctx, "v1", vault.Secrets, "s")
	if err != nil || len(vers) != 3 || vers[0].Seq != seqs[0] || vers[2].Seq != seqs[2] {
		t.Fatalf("ListVersions = %d, %v", len(vers), err)
	}
	if _, err := s.ListVersions(ctx, "v1", vault.Secrets, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ListVersions(missing) = %v", err)
	}
	obj, err := s.GetObject(ctx, "v1", vault.Secrets, "s")
	if err != nil || obj.Name != "s" || obj.Deleted != nil || obj.Type != vault.Secrets {
		t.Fatalf("GetObject = %+v, %v", obj, err)
	}
}

func testObjectVersion(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "v1")
	for i := range 3 {
		mustAdd(t, s, newVersion("v1", vault.Secrets, "S", i), vault.AddOptions{})
	}
	bare := newVersion("v1", vault.Keys, "k", 0)
	bare.Sealed, bare.Public, bare.Meta, bare.Tags = nil, nil, nil, nil
	mustAdd(t, s, bare, vault.AddOptions{})
	for _, tc := range []struct {
		name, obj, version string
		typ                vault.ObjectType
		want               string // version id, "" for ErrNotFound
		sealed             string
	}{
		{"newest", "s", "", vault.Secrets, fmt.Sprintf("%032x", 3), "sealed-2"},
		{"by id", "S", fmt.Sprintf("%032x", 1), vault.Secrets, fmt.Sprintf("%032x", 1), "sealed-0"},
		{"unknown version", "s", fmt.Sprintf("%032x", 9), vault.Secrets, "", ""},
		{"unknown object", "nope", "", vault.Secrets, "", ""},
		{"other type", "s", "", vault.Certificates, "", ""},
		{"nil blobs and tags", "k", "", vault.Keys, fmt.Sprintf("%032x", 1), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj, ver, err := s.GetObjectVersion(ctx, "V1", tc.typ, tc.obj, tc.version)
			if tc.want == "" {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("err = %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if obj.Vault != "v1" || obj.Type != tc.typ || !strings.EqualFold(obj.Name, tc.obj) || obj.Deleted != nil {
				t.Fatalf("object = %+v", obj)
			}
			if ver.Version != tc.want || string(ver.Sealed) != tc.sealed || ver.Seq == 0 || ver.Type != tc.typ {
				t.Fatalf("version = %+v, want %s with sealed %q", ver, tc.want, tc.sealed)
			}
			if tc.typ == vault.Keys && (ver.Sealed != nil || ver.Public != nil || ver.Meta != nil || ver.Tags != nil) {
				t.Fatalf("nil fields read back as %+v", ver)
			}
		})
	}
	del := &vault.Deletion{DeletedAt: t0, ScheduledPurgeAt: t0.Add(time.Hour), RecoveryID: "deletedsecrets/S"}
	if _, err := s.UpdateObject(ctx, "v1", vault.Secrets, "s", func(o *vault.Object) error { o.Deleted = del; return nil }); err != nil {
		t.Fatal(err)
	}
	obj, ver, err := s.GetObjectVersion(ctx, "v1", vault.Secrets, "s", "")
	if err != nil || obj.Deleted == nil || obj.Deleted.RecoveryID != del.RecoveryID || ver.Version != fmt.Sprintf("%032x", 3) {
		t.Fatalf("deleted object = %+v %+v, %v; want it with its newest version", obj, ver, err)
	}
}

func testAddVersionConflicts(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "v1")
	if _, err := s.AddVersion(ctx, newVersion("nope", vault.Secrets, "s", 0), vault.AddOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown vault: %v", err)
	}
	mustAdd(t, s, newVersion("v1", vault.Secrets, "s", 0), vault.AddOptions{})
	if _, err := s.AddVersion(ctx, newVersion("v1", vault.Secrets, "s", 0), vault.AddOptions{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate version id: %v", err)
	}
	if _, err := s.AddVersion(ctx, newVersion("v1", vault.Certificates, "s", 1), vault.AddOptions{Exclusive: []vault.ObjectType{vault.Secrets, vault.Keys}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("exclusive type: %v", err)
	}
	if _, err := s.GetObject(ctx, "v1", vault.Certificates, "s"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused insert left an object: %v", err)
	}
	// A key may share a secret's name.
	mustAdd(t, s, newVersion("v1", vault.Keys, "s", 2), vault.AddOptions{Exclusive: []vault.ObjectType{vault.Certificates}})
	// Policy is set with the version.
	mustAdd(t, s, newVersion("v1", vault.Certificates, "c", 3), vault.AddOptions{Exclusive: []vault.ObjectType{vault.Secrets, vault.Keys}, Policy: []byte(`{"p":1}`)})
	if obj, err := s.GetObject(ctx, "v1", vault.Certificates, "c"); err != nil || string(obj.Policy) != `{"p":1}` {
		t.Fatalf("policy = %q, %v", obj.Policy, err)
	}
	if _, err := s.UpdateObject(ctx, "v1", vault.Secrets, "s", func(o *vault.Object) error {
		o.Deleted = &vault.Deletion{DeletedAt: t0, ScheduledPurgeAt: t0.Add(time.Hour), RecoveryID: "deletedsecrets/s"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddVersion(ctx, newVersion("v1", vault.Secrets, "s", 4), vault.AddOptions{}); !errors.Is(err, vault.ErrObjectDeleted) {
		t.Fatalf("add to deleted object: %v", err)
	}
	if _, err := s.AddVersion(ctx, newVersion("v1", vault.Certificates, "s", 5), vault.AddOptions{Exclusive: []vault.ObjectType{vault.Secrets}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("exclusive against a deleted object: %v", err)
	}
}

func testRestoreObject(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "v1")
	obj := vault.Object{Vault: "V1", Type: vault.Certificates, Name: "Restored", Created: t0.Add(-time.Hour), Policy: []byte(`{"p":2}`)}
	// Version ids out of lexical order: the store keeps the given order.
	vers := []vault.ObjectVersion{newVersion("v1", vault.Certificates, "Restored", 7), newVersion("v1", vault.Certificates, "Restored", 3), newVersion("v1", vault.Certificates, "Restored", 5)}
	vers[1].Enabled = false
	vers[2].Tags = nil
	excl := []vault.ObjectType{vault.Secrets, vault.Keys}

	for _, tc := range []struct {
		name string
		obj  vault.Object
		vers []vault.ObjectVersion
		want error
	}{
		{"unknown vault", vault.Object{Vault: "nope", Type: vault.Secrets, Name: "x"}, vers[:1], store.ErrNotFound},
		{"no versions", vault.Object{Vault: "v1", Type: vault.Secrets, Name: "x"}, nil, store.ErrConflict},
		{"repeated version id", vault.Object{Vault: "v1", Type: vault.Secrets, Name: "x"}, []vault.ObjectVersion{vers[0], vers[0]}, store.ErrConflict},
	} {
		if _, err := s.RestoreObject(ctx, tc.obj, tc.vers, nil); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := s.GetObject(ctx, "v1", vault.Secrets, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused restore left an object: %v", err)
	}

	got, err := s.RestoreObject(ctx, obj, vers, excl)
	if err != nil {
		t.Fatalf("RestoreObject: %v", err)
	}
	stored, err := s.ListVersions(ctx, "v1", vault.Certificates, "restored")
	if err != nil || len(stored) != 3 || len(got) != 3 {
		t.Fatalf("ListVersions: %d versions, %v; returned %d", len(stored), err, len(got))
	}
	for i := range vers {
		want := vers[i]
		want.Seq, want.Vault = stored[i].Seq, "v1"
		if !sameVersion(stored[i], want) || stored[i].Seq != got[i].Seq || (i > 0 && stored[i].Seq <= stored[i-1].Seq) {
			t.Fatalf("version %d: stored %+v, want %+v", i, stored[i], want)
		}
	}
	o, err := s.GetObject(ctx, "v1", vault.Certificates, "restored")
	if err != nil || o.Name != "Restored" || !o.Created.Equal(obj.Created) || string(o.Policy) != `{"p":2}` || o.Deleted != nil {
		t.Fatalf("object %+v, %v", o, err)
	}
	if newest, err := s.GetVersion(ctx, "v1", vault.Certificates, "restored", ""); err != nil || newest.Version != vers[2].Version {
		t.Fatalf("newest = %s, %v; want the last given", newest.Version, err)
	}

	// A name in use: live (same type or exclusive) or deleted.
	if _, err := s.RestoreObject(ctx, obj, vers, excl); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("restore over a live object: %v", err)
	}
	if _, err := s.RestoreObject(ctx, vault.Object{Vault: "v1", Type: vault.Secrets, Name: "restored"}, vers[:1], []vault.ObjectType{vault.Certificates}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("restore over an exclusive type: %v", err)
	}
	if _, err := s.UpdateObject(ctx, "v1", vault.Certificates, "restored", func(o *vault.Object) error {
		o.Deleted = &vault.Deletion{DeletedAt: t0, ScheduledPurgeAt: t0.Add(time.Hour), RecoveryID: "deletedcertificates/Restored"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RestoreObject(ctx, obj, vers, excl); !errors.Is(err, vault.ErrObjectDeleted) {
		t.Fatalf("restore over a deleted object: %v", err)
	}
	if err := s.PurgeObject(ctx, "v1", vault.Certificates, "restored"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RestoreObject(ctx, obj, vers, excl); err != nil {
		t.Fatalf("restore after purge: %v", err)
	}
}

func testConcurrentRestore(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "v1")
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vers := []vault.ObjectVersion{newVersion("v1", vault.Secrets, "race", 2*i), newVersion("v1", vault.Secrets, "race", 2*i+1)}
			_, err := s.RestoreObject(ctx, vault.Object{Vault: "v1", Type: vault.Secrets, Name: "race", Created: t0}, vers, []vault.ObjectType{vault.Certificates})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("a losing restore: %v, want ErrConflict", err)
		}
	}
	vers, err := s.ListVersions(ctx, "v1", vault.Secrets, "race")
	if won != 1 || err != nil || len(vers) != 2 {
		t.Fatalf("%d restores won, %d versions stored (%v); want 1 and 2", won, len(vers), err)
	}
}

// sameVersion compares every stored field of two versions.
func sameVersion(a, b vault.ObjectVersion) bool {
	return a.Seq == b.Seq && a.Vault == b.Vault && a.Type == b.Type && a.Name == b.Name && a.Version == b.Version &&
		a.Created.Equal(b.Created) && a.Updated.Equal(b.Updated) && a.Enabled == b.Enabled &&
		a.NotBefore.Equal(b.NotBefore) && a.Expires.Equal(b.Expires) && a.ContentType == b.ContentType &&
		fmt.Sprint(a.Tags) == fmt.Sprint(b.Tags) && bytes.Equal(a.Sealed, b.Sealed) && bytes.Equal(a.Public, b.Public) && bytes.Equal(a.Meta, b.Meta)
}

func testConcurrentAdd(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "v1")
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.AddVersion(ctx, newVersion("v1", vault.Secrets, "hot", i), vault.AddOptions{Exclusive: []vault.ObjectType{vault.Certificates}})
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
	vers, err := s.ListVersions(ctx, "v1", vault.Secrets, "hot")
	if err != nil {
		t.Fatal(err)
	}
	ids, seqs := map[string]bool{}, map[int64]bool{}
	for _, v := range vers {
		ids[v.Version], seqs[v.Seq] = true, true
	}
	if len(vers) != n || len(ids) != n || len(seqs) != n {
		t.Fatalf("%d versions, %d distinct ids, %d distinct seqs; want %d", len(vers), len(ids), len(seqs), n)
	}
}

func testObjectsState(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "v1")
	mustVault(t, s, "v2")
	for i, name := range []string{"c", "a", "b", "d"} {
		mustAdd(t, s, newVersion("v1", vault.Secrets, name, i), vault.AddOptions{})
	}
	mustAdd(t, s, newVersion("v1", vault.Secrets, "a", 10), vault.AddOptions{})
	mustAdd(t, s, newVersion("v2", vault.Secrets, "z", 0), vault.AddOptions{})
	mustAdd(t, s, newVersion("v1", vault.Keys, "k", 0), vault.AddOptions{})
	del := &vault.Deletion{DeletedAt: t0, ScheduledPurgeAt: t0.Add(24 * time.Hour), RecoveryID: "deletedsecrets/b"}
	obj, err := s.UpdateObject(ctx, "v1", vault.Secrets, "b", func(o *vault.Object) error { o.Deleted = del; return nil })
	if err != nil || obj.Deleted == nil || !obj.Deleted.ScheduledPurgeAt.Equal(del.ScheduledPurgeAt) || obj.Deleted.RecoveryID != del.RecoveryID {
		t.Fatalf("UpdateObject = %+v, %v", obj, err)
	}
	if _, err := s.UpdateObject(ctx, "v1", vault.Secrets, "nope", func(*vault.Object) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateObject(missing) = %v", err)
	}
	names := func(es []vault.ObjectEntry) (out []string) {
		for _, e := range es {
			out = append(out, e.Object.Name)
		}
		return out
	}
	live, err := s.ListObjects(ctx, "v1", vault.Secrets, vault.ObjectQuery{})
	if err != nil || fmt.Sprint(names(live)) != "[a c d]" {
		t.Fatalf("live = %v, %v", names(live), err)
	}
	if live[0].Newest.Version != fmt.Sprintf("%032x", 11) {
		t.Fatalf("entry a carries version %s, want the newest", live[0].Newest.Version)
	}
	page, err := s.ListObjects(ctx, "v1", vault.Secrets, vault.ObjectQuery{After: "a", Limit: 1})
	if err != nil || fmt.Sprint(names(page)) != "[c]" {
		t.Fatalf("page = %v, %v", names(page), err)
	}
	deleted, err := s.ListObjects(ctx, "v1", vault.Secrets, vault.ObjectQuery{Deleted: true})
	if err != nil || fmt.Sprint(names(deleted)) != "[b]" || deleted[0].Object.Deleted == nil {
		t.Fatalf("deleted = %v, %v", names(deleted), err)
	}
	if got, _ := s.GetVersion(ctx, "v1", vault.Secrets, "b", ""); got.Version == "" {
		t.Fatal("GetVersion must read versions of deleted objects")
	}
	if _, err := s.UpdateObject(ctx, "v1", vault.Secrets, "b", func(o *vault.Object) error { o.Deleted = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if live, _ := s.ListObjects(ctx, "v1", vault.Secrets, vault.ObjectQuery{}); fmt.Sprint(names(live)) != "[a b c d]" {
		t.Fatalf("after recover: %v", names(live))
	}
}

func testUpdateVersion(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "v1")
	orig := mustAdd(t, s, newVersion("v1", vault.Secrets, "s", 0), vault.AddOptions{})
	got, err := s.UpdateVersion(ctx, "v1", vault.Secrets, "s", orig.Version, func(v *vault.ObjectVersion) error {
		v.Enabled, v.NotBefore, v.Expires, v.ContentType = false, t0.Add(time.Hour), t0.Add(2*time.Hour), "x"
		v.Tags, v.Updated, v.Meta = map[string]string{"new": "1"}, t0.Add(time.Minute), []byte(`{"k":2}`)
		v.Sealed, v.Public, v.Version = []byte("evil"), []byte("evil"), "changed"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := s.GetVersion(ctx, "v1", vault.Secrets, "s", orig.Version)
	for _, v := range []vault.ObjectVersion{got, again} {
		if v.Enabled || !v.NotBefore.Equal(t0.Add(time.Hour)) || !v.Expires.Equal(t0.Add(2*time.Hour)) || v.ContentType != "x" ||
			v.Tags["new"] != "1" || len(v.Tags) != 1 || string(v.Meta) != `{"k":2}` || !v.Updated.Equal(t0.Add(time.Minute)) {
			t.Fatalf("mutable fields not written: %+v", v)
		}
		if string(v.Sealed) != "sealed-0" || string(v.Public) != "pub" || v.Version != orig.Version {
			t.Fatalf("immutable fields changed: %+v", v)
		}
	}
	if _, err := s.UpdateVersion(ctx, "v1", vault.Secrets, "s", fmt.Sprintf("%032x", 7), func(*vault.ObjectVersion) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown version: %v", err)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateVersion(ctx, "v1", vault.Secrets, "s", orig.Version, func(v *vault.ObjectVersion) error { v.Enabled = true; return boom }); err != boom {
		t.Fatalf("mutate error = %v", err)
	}
	if v, _ := s.GetVersion(ctx, "v1", vault.Secrets, "s", ""); v.Enabled {
		t.Fatal("failed update was written")
	}
}

func testPurge(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "v1")
	ver := mustAdd(t, s, newVersion("v1", vault.Certificates, "c", 0), vault.AddOptions{})
	mustAdd(t, s, newVersion("v1", vault.Certificates, "c", 1), vault.AddOptions{})
	m := vault.LifetimeMarker{Vault: "v1", Name: "c", Version: ver.Version, Action: "EmailContacts", Trigger: "lifetimePercentage=80", Fired: t0}
	if first, err := s.MarkLifetimeAction(ctx, m); err != nil || !first {
		t.Fatalf("mark = %v, %v", first, err)
	}
	if err := s.PurgeObject(ctx, "v1", vault.Certificates, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetObject(ctx, "v1", vault.Certificates, "c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("purged object: %v", err)
	}
	if _, err := s.GetVersion(ctx, "v1", vault.Certificates, "c", ver.Version); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("purged version: %v", err)
	}
	if err := s.PurgeObject(ctx, "v1", vault.Certificates, "c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second purge: %v", err)
	}
	if first, err := s.MarkLifetimeAction(ctx, m); err != nil || !first {
		t.Fatalf("marker survived the purge: %v, %v", first, err)
	}
	// The name is free again, for any type.
	mustAdd(t, s, newVersion("v1", vault.Secrets, "c", 3), vault.AddOptions{Exclusive: []vault.ObjectType{vault.Certificates}})
}

func testScanReplace(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "v1")
	mustVault(t, s, "v2")
	var all []vault.ObjectVersion
	for i := range 5 {
		v := "v1"
		if i%2 == 1 {
			v = "v2"
		}
		all = append(all, mustAdd(t, s, newVersion(v, vault.Secrets, fmt.Sprintf("s%d", i%3), i), vault.AddOptions{}))
	}
	var seen []vault.ObjectVersion
	var after int64
	for {
		batch, err := s.ScanVersions(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		if len(batch) > 2 {
			t.Fatalf("batch of %d, limit 2", len(batch))
		}
		for _, v := range batch {
			if v.Seq <= after {
				t.Fatalf("Seq %d not after %d", v.Seq, after)
			}
			after = v.Seq
			seen = append(seen, v)
		}
	}
	if len(seen) != len(all) || string(seen[0].Sealed) != "sealed-0" {
		t.Fatalf("scanned %d of %d", len(seen), len(all))
	}
	n, err := s.ReplaceSealed(ctx, []vault.SealedUpdate{
		{Seq: all[0].Seq, Old: []byte("sealed-0"), New: []byte("new-0")},
		{Seq: all[1].Seq, Old: []byte("stale"), New: []byte("new-1")},
	})
	if err != nil || n != 1 {
		t.Fatalf("ReplaceSealed = %d, %v; want 1 (the stale one skipped)", n, err)
	}
	if v, _ := s.GetVersion(ctx, all[0].Vault, vault.Secrets, all[0].Name, all[0].Version); string(v.Sealed) != "new-0" {
		t.Fatalf("sealed = %q", v.Sealed)
	}
	if v, _ := s.GetVersion(ctx, all[1].Vault, vault.Secrets, all[1].Name, all[1].Version); string(v.Sealed) != "sealed-1" {
		t.Fatalf("stale update applied: %q", v.Sealed)
	}
}

func testRoleAssignments(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "v1")
	a := vault.RoleAssignment{ID: "id1", Vault: "v1", Scope: "", PrincipalID: "app1", Role: "Key Vault Secrets User", Created: t0}
	b := vault.RoleAssignment{ID: "id2", Vault: "v1", Scope: "secrets/x", PrincipalID: "app2", Role: "Key Vault Secrets User", Created: t0.Add(time.Second)}
	for _, x := range []vault.RoleAssignment{a, b} {
		if err := s.CreateRoleAssignment(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	dup := a
	dup.ID = "id3"
	if err := s.CreateRoleAssignment(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate assignment: %v", err)
	}
	if err := s.CreateRoleAssignment(ctx, vault.RoleAssignment{ID: "id4", Vault: "nope", PrincipalID: "x", Role: "r"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("assignment in unknown vault: %v", err)
	}
	all, err := s.ListRoleAssignments(ctx, "v1", "")
	if err != nil || len(all) != 2 || all[0].ID != "id1" || all[1].Scope != "secrets/x" {
		t.Fatalf("all = %+v, %v", all, err)
	}
	mine, err := s.ListRoleAssignments(ctx, "v1", "app2")
	if err != nil || len(mine) != 1 || mine[0].ID != "id2" {
		t.Fatalf("app2 = %+v, %v", mine, err)
	}
	if err := s.DeleteRoleAssignment(ctx, "v1", "id1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRoleAssignment(ctx, "v1", "id1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testReferences(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "v1")
	r := vault.Reference{Vault: "v1", Type: vault.Secrets, Name: "s", Referrer: "gateway/route/a", Created: t0}
	rv := r
	rv.Version, rv.Referrer = fmt.Sprintf("%032x", 1), "connector/b"
	for _, x := range []vault.Reference{r, r, rv} {
		if err := s.AddReference(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	refs, err := s.ListReferences(ctx, "v1", vault.Secrets, "s")
	if err != nil || len(refs) != 2 || refs[0].Referrer != "gateway/route/a" || refs[1].Version != rv.Version {
		t.Fatalf("refs = %+v, %v", refs, err)
	}
	if other, _ := s.ListReferences(ctx, "v1", vault.Keys, "s"); len(other) != 0 {
		t.Fatalf("references leaked across types: %+v", other)
	}
	if err := s.RemoveReference(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveReference(ctx, r); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	if refs, _ := s.ListReferences(ctx, "v1", vault.Secrets, "s"); len(refs) != 1 {
		t.Fatalf("after remove: %+v", refs)
	}
}

func testAudit(t *testing.T, s vault.Store) {
	ctx := context.Background()
	for i := range 5 {
		v := "v1"
		if i == 2 {
			v = "v2"
		}
		if err := s.AppendAudit(ctx, vault.AuditRecord{Time: t0.Add(time.Duration(i) * time.Second), Vault: v, Operation: fmt.Sprint(i), Outcome: vault.OutcomeSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.ListAudit(ctx, vault.AuditQuery{Vault: "v1", Limit: 2})
	if err != nil || len(recs) != 2 || recs[0].Operation != "4" || recs[1].Operation != "3" {
		t.Fatalf("audit = %+v, %v", recs, err)
	}
	all, err := s.ListAudit(ctx, vault.AuditQuery{})
	if err != nil || len(all) != 5 || all[2].Vault != "v2" {
		t.Fatalf("all audit = %+v, %v", all, err)
	}
}

func testAuditBatch(t *testing.T, s vault.Store) {
	ctx := context.Background()
	if err := s.AppendAudit(ctx); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	var batch []vault.AuditRecord
	for i := range 300 {
		batch = append(batch, vault.AuditRecord{Time: t0.Add(time.Duration(i) * time.Millisecond), RequestID: fmt.Sprint("r", i), Vault: "v1",
			Type: vault.Secrets, Name: "s", Operation: string(vault.PermSecretsGet), Outcome: vault.OutcomeSuccess})
	}
	if err := s.AppendAudit(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, vault.AuditRecord{Time: t0, Vault: "v1", Operation: "last", Outcome: vault.OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	recs, err := s.ListAudit(ctx, vault.AuditQuery{Vault: "v1"})
	if err != nil || len(recs) != 301 {
		t.Fatalf("audit = %d records, %v; want 301", len(recs), err)
	}
	if recs[0].Operation != "last" {
		t.Fatalf("newest = %+v, want the record appended last", recs[0])
	}
	for i, r := range recs[1:] {
		if want := fmt.Sprint("r", 299-i); r.RequestID != want || !r.Time.Equal(batch[299-i].Time) {
			t.Fatalf("record %d = %+v, want request %s at %s", i+1, r, want, batch[299-i].Time)
		}
	}
}

// testAuditWrittenAgain: a record appended again with the same ID (a
// batch retried or replayed after a commit that reported an error but
// happened) is stored once, where it was first; the new records of a
// batch that repeats stored ones are appended after them, in order.
func testAuditWrittenAgain(t *testing.T, s vault.Store) {
	ctx := context.Background()
	rec := func(id string, i int) vault.AuditRecord {
		return vault.AuditRecord{ID: id, Time: t0.Add(time.Duration(i) * time.Millisecond), RequestID: fmt.Sprint("r", i), Vault: "v1",
			Type: vault.Secrets, Name: "s", Operation: string(vault.PermSecretsGet), Outcome: vault.OutcomeSuccess}
	}
	// batch returns records first..last-1, with IDs derived from tag and i.
	batch := func(tag string, first, last int) []vault.AuditRecord {
		var out []vault.AuditRecord
		for i := first; i < last; i++ {
			out = append(out, rec(fmt.Sprintf("%s-%03d", tag, i), i))
		}
		return out
	}
	cases := []struct {
		name    string
		appends [][]vault.AuditRecord
		want    []string // request IDs, oldest first
	}{
		{"one record twice", [][]vault.AuditRecord{batch("a", 0, 1), batch("a", 0, 1)}, []string{"r0"}},
		{"a batch twice", [][]vault.AuditRecord{batch("b", 0, 3), batch("b", 0, 3)}, []string{"r0", "r1", "r2"}},
		{"a batch again with new records after it", [][]vault.AuditRecord{batch("c", 0, 2), batch("c", 0, 4)}, []string{"r0", "r1", "r2", "r3"}},
		{"stored records among new ones", [][]vault.AuditRecord{batch("d", 1, 2), batch("d", 0, 3)}, []string{"r1", "r0", "r2"}},
		{"a record twice in one batch", [][]vault.AuditRecord{append(batch("e", 0, 2), batch("e", 0, 1)...)}, []string{"r0", "r1"}},
		{"a batch of several statements again", [][]vault.AuditRecord{batch("f", 0, 150), batch("f", 0, 151)}, nil},
		{"records without ID are each stored", [][]vault.AuditRecord{{rec("", 0)}, {rec("", 0)}}, []string{"r0", "r0"}},
	}
	for n, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := fmt.Sprint("written-again-", n) // a vault of its own per case
			for i := range tc.appends {
				for j := range tc.appends[i] {
					tc.appends[i][j].Vault = v
				}
				if err := s.AppendAudit(ctx, tc.appends[i]...); err != nil {
					t.Fatalf("append #%d: %v", i+1, err)
				}
			}
			want := tc.want
			if want == nil { // the distinct records of the last append, in order
				for _, r := range tc.appends[len(tc.appends)-1] {
					want = append(want, r.RequestID)
				}
			}
			recs, err := s.ListAudit(ctx, vault.AuditQuery{Vault: v})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i := len(recs) - 1; i >= 0; i-- {
				got = append(got, recs[i].RequestID)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("stored %d records %v, want %d %v", len(got), got, len(want), want)
			}
		})
	}
}

func testRevision(t *testing.T, s vault.Store) {
	ctx := context.Background()
	rev := func() int64 {
		t.Helper()
		r, err := s.Revision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r0 := rev()
	mustVault(t, s, "v1")
	r1 := rev()
	if r1 == r0 {
		t.Fatal("revision did not move after CreateVault")
	}
	a := vault.RoleAssignment{ID: "a1", Vault: "v1", PrincipalID: "p", Role: vault.RoleSecretsUser, Created: t0}
	if err := s.CreateRoleAssignment(ctx, a); err != nil {
		t.Fatal(err)
	}
	r2 := rev()
	if r2 == r1 {
		t.Fatal("revision did not move after CreateRoleAssignment")
	}
	if err := s.DeleteRoleAssignment(ctx, "v1", "a1"); err != nil {
		t.Fatal(err)
	}
	r3 := rev()
	if r3 == r2 {
		t.Fatal("revision did not move after DeleteRoleAssignment")
	}
	if _, err := s.UpdateVault(ctx, "v1", func(v *vault.Vault) error { v.PurgeProtection = true; return nil }); err != nil {
		t.Fatal(err)
	}
	r4 := rev()
	if r4 == r3 {
		t.Fatal("revision did not move after UpdateVault")
	}
	mustAdd(t, s, newVersion("v1", vault.Secrets, "s", 1), vault.AddOptions{})
	if rev() == r4 {
		t.Fatal("revision did not move after AddVersion")
	}
}

func testMarkers(t *testing.T, s vault.Store) {
	ctx := context.Background()
	m := vault.LifetimeMarker{Vault: "v1", Name: "c", Version: "1", Action: "EmailContacts", Trigger: "daysBeforeExpiry=30", Fired: t0}
	for i, want := range []bool{true, false, false} {
		if got, err := s.MarkLifetimeAction(ctx, m); err != nil || got != want {
			t.Fatalf("mark %d = %v, %v; want %v", i, got, err, want)
		}
	}
	other := m
	other.Trigger = "lifetimePercentage=80"
	if got, _ := s.MarkLifetimeAction(ctx, other); !got {
		t.Fatal("another trigger must fire separately")
	}
	if err := s.UnmarkLifetimeAction(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.UnmarkLifetimeAction(ctx, m); err != nil {
		t.Fatalf("unmark of an absent marker: %v", err)
	}
	if got, _ := s.MarkLifetimeAction(ctx, m); !got {
		t.Fatal("unmarked marker must fire again")
	}
}

func testCaseInsensitive(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "v1")
	mustAdd(t, s, newVersion("v1", vault.Secrets, "MySecret", 0), vault.AddOptions{})
	out := mustAdd(t, s, newVersion("V1", vault.Secrets, "mysecret", 1), vault.AddOptions{})
	if out.Name != "MySecret" {
		t.Errorf("second write renamed the object to %q; the first spelling stays", out.Name)
	}
	vers, err := s.ListVersions(ctx, "v1", vault.Secrets, "MYSECRET")
	if err != nil || len(vers) != 2 {
		t.Fatalf("versions = %d, %v", len(vers), err)
	}
	if _, err := s.AddVersion(ctx, newVersion("v1", vault.Certificates, "MYSECRET", 2), vault.AddOptions{Exclusive: []vault.ObjectType{vault.Secrets}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("exclusive check must ignore case: %v", err)
	}
}

func testSettings(t *testing.T, s vault.Store) {
	ctx := context.Background()
	mustVault(t, s, "V1")
	mustVault(t, s, "v2")
	if _, err := s.PutSetting(ctx, vault.Setting{Vault: "nope", Kind: vault.SettingIssuers, Name: "ca", Body: []byte(`{}`), Created: t0, Updated: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("put into a missing vault: %v", err)
	}
	rev0, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.PutSetting(ctx, vault.Setting{Vault: "v1", Kind: vault.SettingIssuers, Name: "Root-CA", Body: []byte(`{"a":1}`), Created: t0, Updated: t0})
	if err != nil {
		t.Fatal(err)
	}
	if first.Vault != "V1" || first.Name != "Root-CA" || string(first.Body) != `{"a":1}` || !first.Created.Equal(t0) {
		t.Fatalf("put returned %+v", first)
	}
	if rev1, _ := s.Revision(ctx); rev1 == rev0 {
		t.Fatal("PutSetting did not move the revision")
	}
	if _, err := s.CreateSetting(ctx, vault.Setting{Vault: "v1", Kind: vault.SettingIssuers, Name: "ROOT-ca", Body: []byte(`{"a":9}`), Created: t0, Updated: t0}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateSetting over an existing setting: %v", err)
	}
	if _, err := s.CreateSetting(ctx, vault.Setting{Vault: "nope", Kind: vault.SettingIssuers, Name: "x", Body: []byte(`{}`), Created: t0, Updated: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CreateSetting in a missing vault: %v", err)
	}
	t1 := t0.Add(time.Hour)
	again, err := s.PutSetting(ctx, vault.Setting{Vault: "v1", Kind: vault.SettingIssuers, Name: "root-ca", Body: []byte(`{"a":2}`), Created: t1, Updated: t1})
	if err != nil {
		t.Fatal(err)
	}
	if again.Name != "Root-CA" || !again.Created.Equal(t0) || !again.Updated.Equal(t1) || string(again.Body) != `{"a":2}` {
		t.Fatalf("replace kept the wrong fields: %+v", again)
	}
	if created, err := s.CreateSetting(ctx, vault.Setting{Vault: "v1", Kind: vault.SettingPending, Name: "Cert", Body: []byte(`{}`), Created: t0, Updated: t0}); err != nil || created.Name != "Cert" || created.Vault != "V1" {
		t.Fatalf("CreateSetting = %+v, %v", created, err)
	}
	for _, st := range []vault.Setting{
		{Vault: "v1", Kind: vault.SettingIssuers, Name: "b-ca", Body: []byte(`{}`), Created: t0, Updated: t0},
		{Vault: "v1", Kind: vault.SettingContacts, Name: "contacts", Body: []byte(`[]`), Created: t0, Updated: t0},
		{Vault: "v2", Kind: vault.SettingIssuers, Name: "other", Body: []byte(`{}`), Created: t0, Updated: t0},
	} {
		if _, err := s.PutSetting(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListSettings(ctx, "V1", vault.SettingIssuers)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "b-ca" || list[1].Name != "Root-CA" {
		t.Fatalf("list = %+v", list)
	}
	if list, _ := s.ListSettings(ctx, "v3", vault.SettingIssuers); len(list) != 0 {
		t.Fatalf("list of a missing vault = %+v", list)
	}
	got, err := s.GetSetting(ctx, "v1", vault.SettingIssuers, "ROOT-CA")
	if err != nil || string(got.Body) != `{"a":2}` {
		t.Fatalf("get = %+v, %v", got, err)
	}
	if _, err := s.GetSetting(ctx, "v2", vault.SettingIssuers, "root-ca"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("settings leak across vaults: %v", err)
	}
	if _, err := s.GetSetting(ctx, "v1", vault.SettingContacts, "root-ca"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("settings leak across kinds: %v", err)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateSetting(ctx, "v1", vault.SettingIssuers, "root-ca", func(st *vault.Setting) error {
		st.Body = []byte(`{"lost":true}`)
		return boom
	}); err != boom {
		t.Fatalf("mutate error = %v, want it as is", err)
	}
	up, err := s.UpdateSetting(ctx, "v1", vault.SettingIssuers, "root-ca", func(st *vault.Setting) error {
		st.Body, st.Updated, st.Name, st.Created = []byte(`{"a":3}`), t1.Add(time.Hour), "renamed", t1
		return nil
	})
	if err != nil || string(up.Body) != `{"a":3}` || up.Name != "Root-CA" || !up.Created.Equal(t0) || !up.Updated.Equal(t1.Add(time.Hour)) {
		t.Fatalf("update = %+v, %v", up, err)
	}
	if _, err := s.UpdateSetting(ctx, "v1", vault.SettingIssuers, "absent", func(*vault.Setting) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of an absent setting: %v", err)
	}
	del, err := s.DeleteSetting(ctx, "v1", vault.SettingIssuers, "root-ca")
	if err != nil || string(del.Body) != `{"a":3}` {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	if _, err := s.DeleteSetting(ctx, "v1", vault.SettingIssuers, "root-ca"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.DeleteVault(ctx, "v2"); err != nil {
		t.Fatalf("delete vault with settings: %v", err)
	}
	mustVault(t, s, "v2")
	if list, _ := s.ListSettings(ctx, "v2", vault.SettingIssuers); len(list) != 0 {
		t.Fatalf("a deleted vault's settings survived: %+v", list)
	}
}
