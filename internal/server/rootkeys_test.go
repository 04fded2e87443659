package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/kvapi"
)

type rekeyOut struct {
	RootKeyID      string `json:"rootKeyId"`
	VaultBlobs     int    `json:"vaultBlobs"`
	SigningKeys    int    `json:"signingKeys"`
	AlreadyCurrent int    `json:"alreadyCurrent"`
	Complete       bool   `json:"complete"`
}

type rootKeyStatusOut struct {
	CurrentRootKeyID   string   `json:"currentRootKeyId"`
	PreviousRootKeyIDs []string `json:"previousRootKeyIds"`
	SealedBy           []struct {
		RootKeyID   string `json:"rootKeyId"`
		Current     bool   `json:"current"`
		Held        bool   `json:"held"`
		VaultBlobs  int    `json:"vaultBlobs"`
		SigningKeys int    `json:"signingKeys"`
	} `json:"sealedBy"`
	Malformed         int      `json:"malformed"`
	RekeyNeeded       bool     `json:"rekeyNeeded"`
	PreviousKeysInUse []string `json:"previousKeysInUse"`
}

func (r *running) rootKeyStatus(t *testing.T) rootKeyStatusOut {
	t.Helper()
	var st rootKeyStatusOut
	if code := r.admin(t, "GET", "/rootKeys", nil, &st); code != http.StatusOK {
		t.Fatalf("GET /rootKeys: %d", code)
	}
	return st
}

// sealedBy returns the vault blobs and signing keys a root key seals.
func (s rootKeyStatusOut) sealedBy(id string) (vaultBlobs, signingKeys int, held bool) {
	for _, c := range s.SealedBy {
		if c.RootKeyID == id {
			return c.VaultBlobs, c.SigningKeys, c.Held
		}
	}
	return 0, 0, false
}

// kvGetSecret reads a secret through the Key Vault API with a vault token
// of the admin credential, returning the status and the decoded body.
func (r *running) kvGetSecret(t *testing.T, name string) (int, map[string]any) {
	t.Helper()
	tok, status, body := r.token(t, r.cred.TenantID, r.cred.ClientID, r.cred.ClientSecret, VaultIdentifierURI+"/.default")
	if status != http.StatusOK {
		t.Fatalf("vault token: %d %v", status, body)
	}
	req, err := http.NewRequest("GET", kvapi.PathVaultURL(r.base, vault.DefaultVault)+"/secrets/"+name+"?api-version=7.5", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("GET secret %s: %d %q: %v", name, res.StatusCode, b, err)
	}
	return res.StatusCode, out
}

// rotationFixture is what the rotation test writes under the first root key.
type rotationFixture struct {
	secrets map[string][]string // name → values in version order
	cert    string
	key     string
}

var admin0 = vault.Caller{Principal: guard.Principal{AppID: "rotation-test"}, Admin: true}

// checkEverythingOpens reads every version of every secret, the
// certificate's private key (as secret, and by signing) and the key (by
// signing) through node r's vault service.
func checkEverythingOpens(t *testing.T, r *running, fx rotationFixture) {
	t.Helper()
	ctx := context.Background()
	v := r.srv.Vault()
	for name, values := range fx.secrets {
		page, err := v.ListSecretVersions(ctx, admin0, vault.DefaultVault, name, vault.PageRequest{})
		if err != nil {
			t.Fatalf("versions of %s: %v", name, err)
		}
		if len(page.Items) != len(values) {
			t.Fatalf("secret %s has %d versions, want %d", name, len(page.Items), len(values))
		}
		seen := map[string]bool{}
		for _, it := range page.Items {
			s, err := v.GetSecret(ctx, admin0, vault.DefaultVault, name, it.Version)
			if err != nil {
				t.Fatalf("secret %s version %s: %v", name, it.Version, err)
			}
			seen[s.Value.Reveal()] = true
		}
		for _, want := range values {
			if !seen[want] {
				t.Fatalf("secret %s: value %q not found among its versions", name, want)
			}
		}
	}
	if s, err := v.GetSecret(ctx, admin0, vault.DefaultVault, fx.cert, ""); err != nil || s.Value.Reveal() == "" {
		t.Fatalf("certificate %s as secret: %v", fx.cert, err)
	}
	d := sha256.Sum256([]byte("rotation"))
	for _, name := range []string{fx.cert, fx.key} {
		if _, err := v.Sign(ctx, admin0, vault.DefaultVault, name, "", "ES256", d[:]); err != nil {
			t.Fatalf("sign with %s: %v", name, err)
		}
	}
}

// TestServe_RootKeyRotationWithoutDowntime walks the documented procedure
// on a real dev server: write under key A; restart with current B and
// previous A (everything still reads, old and new tokens verify); a node
// with only B refuses to start with a message naming A's id and the flag;
// rekey; then a node with only B opens every secret, certificate, key and
// signing key.
func TestServe_RootKeyRotationWithoutDowntime(t *testing.T) {
	t.Setenv(RootKeyEnv, "")
	t.Setenv(PreviousRootKeysEnv, "")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	aFile, bFile := filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")
	keyA, err := seal.GenerateRootKeyFile(aFile)
	if err != nil {
		t.Fatal(err)
	}
	keyB, err := seal.GenerateRootKeyFile(bFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// 1. Key A: secrets (several versions), a certificate, a key, tokens.
	r1 := startServer(t, Config{Dev: true, DataDir: data, RootKeyFile: aFile})
	fx := rotationFixture{secrets: map[string][]string{"db-password": {"v1", "v2", "v3"}, "api-key": {"k1"}}, cert: "web", key: "signer"}
	for name, values := range fx.secrets {
		for _, val := range values {
			if _, err := r1.srv.Vault().SetSecret(ctx, admin0, vault.DefaultVault, name, vault.SecretInput{Value: vault.NewStringValue(val)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	policy := vault.CertificatePolicy{X509Properties: &vault.X509Properties{Subject: "CN=web"}, KeyProperties: &vault.KeyProperties{KeyType: "EC"}}
	if _, err := r1.srv.Vault().CreateCertificate(ctx, admin0, vault.DefaultVault, fx.cert, vault.CertificateCreate{Policy: &policy}); err != nil {
		t.Fatal(err)
	}
	if _, err := r1.srv.Vault().CreateKey(ctx, admin0, vault.DefaultVault, fx.key, vault.KeyCreate{KeyType: "EC"}); err != nil {
		t.Fatal(err)
	}
	tokA, status, _ := r1.token(t, r1.cred.TenantID, r1.cred.ClientID, r1.cred.ClientSecret, r1.cred.Scope)
	if status != http.StatusOK {
		t.Fatalf("token under key A: %d", status)
	}
	stA := r1.rootKeyStatus(t)
	if stA.CurrentRootKeyID != keyA.ID() || stA.RekeyNeeded {
		t.Fatalf("status under key A: %+v", stA)
	}
	if err := r1.stop(); err != nil {
		t.Fatal(err)
	}

	// 6 vault blobs: four secret versions, the certificate, the key.

	// 2. Rolling restart: current B, previous A. Everything reads.
	// Restarts keep the port: the dev issuer is https://localhost:PORT.
	listen := r1.srv.Addr()
	// The gateway on a free port: --dev's default, the port after --listen,
	// may be held by another test's listener.
	anyGateway := []string{"https://127.0.0.1:0"}
	rolled := Config{Dev: true, DataDir: data, RootKeyFile: bFile, PreviousRootKeyFiles: []string{aFile}, Listen: listen, GatewayListen: anyGateway}
	r2 := startServer(t, rolled)
	if _, err := r2.verifyAdminToken(t, tokA); err != nil {
		t.Fatalf("token from before the restart: %v", err)
	}
	if code, body := r2.kvGetSecret(t, "db-password"); code != http.StatusOK || body["value"] != "v3" {
		t.Fatalf("Key Vault read after the restart: %d %v", code, body)
	}
	checkEverythingOpens(t, r2, fx)
	if _, err := r2.srv.Vault().SetSecret(ctx, admin0, vault.DefaultVault, "written-under-b", vault.SecretInput{Value: vault.NewStringValue("b")}); err != nil {
		t.Fatal(err)
	}
	fx.secrets["written-under-b"] = []string{"b"}
	tokB, status, _ := r2.token(t, r2.cred.TenantID, r2.cred.ClientID, r2.cred.ClientSecret, r2.cred.Scope)
	if status != http.StatusOK {
		t.Fatalf("token after the restart: %d", status)
	}
	if _, err := r2.verifyAdminToken(t, tokB); err != nil {
		t.Fatalf("new token: %v", err)
	}
	st := r2.rootKeyStatus(t)
	aBlobs, aKeys, aHeld := st.sealedBy(keyA.ID())
	bBlobs, _, _ := st.sealedBy(keyB.ID())
	if st.CurrentRootKeyID != keyB.ID() || !st.RekeyNeeded || aBlobs != 6 || aKeys == 0 || !aHeld || bBlobs != 1 ||
		len(st.PreviousKeysInUse) != 1 || st.PreviousKeysInUse[0] != keyA.ID() {
		t.Fatalf("status before rekey: %+v", st)
	}
	if err := r2.stop(); err != nil {
		t.Fatal(err)
	}

	// 3. A node given only B before the rekey refuses clearly, and writes
	// nothing first (its address is not added to the vault app's URIs).
	vaultURIs := func() []string {
		t.Helper()
		st, err := openStore(ctx, &Config{Dev: true, DataDir: data})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		tenants, err := st.ListTenants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tn := range tenants {
			apps, err := st.ListApplications(ctx, tn.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range apps {
				if slices.Contains(a.IdentifierURIs, VaultIdentifierURI) {
					return a.IdentifierURIs
				}
			}
		}
		t.Fatal("no vault application")
		return nil
	}
	urisBefore := vaultURIs()
	_, err = Start(ctx, Config{Dev: true, DataDir: data, RootKeyFile: bFile, Listen: "127.0.0.1:0"}, slog.New(slog.DiscardHandler), io.Discard)
	if after := vaultURIs(); !slices.Equal(after, urisBefore) {
		t.Errorf("the refused start changed the vault app's identifier URIs:\nbefore %v\nafter  %v", urisBefore, after)
	}
	if err == nil || !errors.Is(err, seal.ErrRootKeyMismatch) {
		t.Fatalf("start with only key B before rekey: %v", err)
	}
	t.Logf("start with only key B: %v", err)
	for _, want := range []string{"root key id " + keyA.ID(), "--previous-root-key", PreviousRootKeysEnv} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}

	// 4. Back with both keys; rekey, twice (idempotent).
	r3 := startServer(t, rolled)
	var rep rekeyOut
	if code := r3.admin(t, "POST", "/rekey", nil, &rep); code != http.StatusOK {
		t.Fatalf("rekey: %d", code)
	}
	if !rep.Complete || rep.RootKeyID != keyB.ID() || rep.VaultBlobs != 6 || rep.SigningKeys != aKeys || rep.AlreadyCurrent < 1 {
		t.Fatalf("rekey report %+v", rep)
	}
	if code := r3.admin(t, "POST", "/rekey", nil, &rep); code != http.StatusOK || !rep.Complete || rep.VaultBlobs != 0 || rep.SigningKeys != 0 {
		t.Fatalf("second rekey: %d %+v", code, rep)
	}
	st = r3.rootKeyStatus(t)
	if st.RekeyNeeded || len(st.SealedBy) != 1 || st.SealedBy[0].RootKeyID != keyB.ID() || st.SealedBy[0].VaultBlobs != 7 {
		t.Fatalf("status after rekey: %+v", st)
	}
	if _, err := r3.verifyAdminToken(t, tokA); err != nil {
		t.Fatalf("token from key A's time after the rekey: %v", err)
	}
	if err := r3.stop(); err != nil {
		t.Fatal(err)
	}

	// 5. Only B: everything opens, old and new tokens verify.
	r4 := startServer(t, Config{Dev: true, DataDir: data, RootKeyFile: bFile, Listen: listen, GatewayListen: anyGateway})
	checkEverythingOpens(t, r4, fx)
	if code, body := r4.kvGetSecret(t, "db-password"); code != http.StatusOK || body["value"] != "v3" {
		t.Fatalf("Key Vault read with only key B: %d %v", code, body)
	}
	for _, tok := range []string{tokA, tokB} {
		if _, err := r4.verifyAdminToken(t, tok); err != nil {
			t.Fatalf("token with only key B: %v", err)
		}
	}
	if _, status, body := r4.token(t, r4.cred.TenantID, r4.cred.ClientID, r4.cred.ClientSecret, r4.cred.Scope); status != http.StatusOK {
		t.Fatalf("token with only key B: %d %v", status, body)
	}

	// 6. A blob a lagging node sealed under A after the rekey: the status
	// names the key as not held, reads fail without internals on the wire
	// and with the key id and the flag in the error, and rekey refuses
	// with the same words.
	vs, ok := r4.srv.store.(vault.Store)
	if !ok {
		t.Fatal("store is not a vault store")
	}
	lagging, err := vault.New(vault.Config{Store: vs, Sealer: seal.NewSealer(keyA), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lagging.SetSecret(ctx, admin0, vault.DefaultVault, "lagging", vault.SecretInput{Value: vault.NewStringValue("x")}); err != nil {
		t.Fatal(err)
	}
	st = r4.rootKeyStatus(t)
	if n, _, held := st.sealedBy(keyA.ID()); !st.RekeyNeeded || n != 1 || held {
		t.Fatalf("status with a lagging blob: %+v", st)
	}
	_, err = r4.srv.Vault().GetSecret(ctx, admin0, vault.DefaultVault, "lagging", "")
	if !errors.Is(err, seal.ErrRootKeyMismatch) {
		t.Fatalf("read of the lagging blob: %v", err)
	}
	if cause := errors.Unwrap(err); cause == nil || !strings.Contains(cause.Error(), "root key id "+keyA.ID()) || !strings.Contains(cause.Error(), "--previous-root-key") {
		t.Fatalf("read of the lagging blob: cause %v", cause)
	}
	code, body := r4.kvGetSecret(t, "lagging")
	// The operator's problem, said to whoever asks: 503 naming the key id
	// and the flag, never a key.
	if b, _ := json.Marshal(body); code != http.StatusServiceUnavailable || !strings.Contains(string(b), "root key id "+keyA.ID()) || !strings.Contains(string(b), "--previous-root-key") {
		t.Fatalf("Key Vault read of the lagging blob: %d %s", code, b)
	}
	var errBody struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	tok, _, _ := r4.token(t, r4.cred.TenantID, r4.cred.ClientID, r4.cred.ClientSecret, r4.cred.Scope)
	req, _ := http.NewRequest("POST", r4.base+"/admin/v1/rekey", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := r4.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&errBody); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusConflict || !strings.Contains(errBody.Error.Message, "root key id "+keyA.ID()) || !strings.Contains(errBody.Error.Message, "--previous-root-key") ||
		strings.Contains(errBody.Error.Message, "seal.NewKeyring") {
		t.Fatalf("rekey with a blob of an unheld key: %d %+v", res.StatusCode, errBody)
	}
}

// TestRekey_ConcurrentRunsOnTwoNodesReSealEachBlobOnce runs the rekey on two
// nodes of one PostgreSQL database at the same time: every blob ends under
// the new key, re-sealed by exactly one of them (compare-and-swap), and the
// counts of the two runs add up.
func TestRekey_ConcurrentRunsOnTwoNodesReSealEachBlobOnce(t *testing.T) {
	dbURL := pgtest.NewDatabaseURL(t)
	t.Setenv(RootKeyEnv, "")
	t.Setenv(PreviousRootKeysEnv, "")
	dir := t.TempDir()
	aFile, bFile := filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")
	if _, err := seal.GenerateRootKeyFile(aFile); err != nil {
		t.Fatal(err)
	}
	keyB, err := seal.GenerateRootKeyFile(bFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dirA, dirB := filepath.Join(dir, "node-a"), filepath.Join(dir, "node-b")
	first := startServer(t, Config{Dev: true, DataDir: dirA, DatabaseURL: dbURL, RootKeyFile: aFile})
	const versions = 230 // more than two rekey batches
	for i := range versions {
		name := "s" + strconv.Itoa(i%7)
		if _, err := first.srv.Vault().SetSecret(ctx, admin0, vault.DefaultVault, name, vault.SecretInput{Value: vault.NewStringValue(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}

	rolled := Config{Dev: true, DataDir: dirA, DatabaseURL: dbURL, RootKeyFile: bFile, PreviousRootKeyFiles: []string{aFile}}
	a := startServer(t, rolled)
	tls := devTLSPaths(dirA)
	rolledB := rolled
	rolledB.DataDir, rolledB.TLSCertFile, rolledB.TLSKeyFile, rolledB.AdminCredentialFile = dirB, tls.CertFile, tls.KeyFile, filepath.Join(dirA, "admin.json")
	b := startServer(t, rolledB)
	managers := make([]rootKeyManager, 2)
	for i, r := range []*running{a, b} {
		cfg := r.cfg
		ring, _, err := newRootKeyring(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		managers[i] = rootKeyManager{keys: ring, store: r.srv.store, vstore: r.srv.store.(vault.Store), vault: r.srv.Vault()}
	}
	reports := make([]rekeyOut, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, m := range managers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := m.Rekey(ctx)
			reports[i] = rekeyOut{VaultBlobs: rep.VaultBlobs, SigningKeys: rep.SigningKeys, AlreadyCurrent: rep.AlreadyCurrent}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("rekey on node %d: %v", i, err)
		}
	}
	st, err := managers[0].RootKeyStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.SealedBy) != 1 || st.SealedBy[0].RootKeyID != keyB.ID() || st.SealedBy[0].VaultBlobs != versions {
		t.Fatalf("status after concurrent rekeys: %+v", st)
	}
	if got := reports[0].VaultBlobs + reports[1].VaultBlobs; got != versions {
		t.Fatalf("vault blobs re-sealed: %d + %d, want %d in all", reports[0].VaultBlobs, reports[1].VaultBlobs, versions)
	}
	if got := reports[0].SigningKeys + reports[1].SigningKeys; got != st.SealedBy[0].SigningKeys {
		t.Fatalf("signing keys re-sealed: %d + %d, want %d in all", reports[0].SigningKeys, reports[1].SigningKeys, st.SealedBy[0].SigningKeys)
	}
	t.Logf("node a %+v, node b %+v", reports[0], reports[1])
	if s, err := b.srv.Vault().GetSecret(ctx, admin0, vault.DefaultVault, "s0", ""); err != nil || s.Value.Reveal() != strconv.Itoa(versions-versions%7) {
		t.Fatalf("newest s0 after the rekeys: %v", err)
	}
}

// hookedVaultStore runs before once, just before the first ReplaceSealed.
type hookedVaultStore struct {
	vault.Store
	before *sync.Once
	hook   func()
}

func (h hookedVaultStore) ReplaceSealed(ctx context.Context, updates []vault.SealedUpdate) (int, error) {
	h.before.Do(h.hook)
	return h.Store.ReplaceSealed(ctx, updates)
}

// hookedStore runs hook once, just before the first ReplaceSigningKeySealed.
type hookedStore struct {
	database
	before *sync.Once
	hook   func()
}

func (h hookedStore) ReplaceSigningKeySealed(ctx context.Context, tenantID, kid string, old, sealed []byte) (bool, error) {
	h.before.Do(h.hook)
	return h.database.ReplaceSigningKeySealed(ctx, tenantID, kid, old, sealed)
}

// TestRekey_ARunOvertakenByAnotherNodeOverwritesNothing interleaves two
// rekey runs deterministically: node 2 re-seals everything between node
// 1's read of a blob and its write. Node 1's compare-and-swap writes lose,
// so each blob is re-sealed once, node 1 counts them as already current,
// and everything still opens.
func TestRekey_ARunOvertakenByAnotherNodeOverwritesNothing(t *testing.T) {
	t.Setenv(RootKeyEnv, "")
	t.Setenv(PreviousRootKeysEnv, "")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	aFile, bFile := filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")
	if _, err := seal.GenerateRootKeyFile(aFile); err != nil {
		t.Fatal(err)
	}
	keyB, err := seal.GenerateRootKeyFile(bFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first := startServer(t, Config{Dev: true, DataDir: data, RootKeyFile: aFile})
	const versions = 120 // more than one rekey batch
	for i := range versions {
		if _, err := first.srv.Vault().SetSecret(ctx, admin0, vault.DefaultVault, "s"+strconv.Itoa(i%5), vault.SecretInput{Value: vault.NewStringValue(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	r := startServer(t, Config{Dev: true, DataDir: data, RootKeyFile: bFile, PreviousRootKeyFiles: []string{aFile}})
	cfg := r.cfg
	ring, _, err := newRootKeyring(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	vs := r.srv.store.(vault.Store)
	newService := func(st vault.Store) *vault.Service {
		svc, err := vault.New(vault.Config{Store: st, Sealer: ring, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	node2 := rootKeyManager{keys: ring, store: r.srv.store, vstore: vs, vault: newService(vs)}
	var node2Vault vault.RekeyReport
	var node2Full rekeyOut
	var hookErr error
	hv := hookedVaultStore{Store: vs, before: new(sync.Once), hook: func() {
		node2Vault, hookErr = node2.vault.Rekey(ctx, ring)
	}}
	hs := hookedStore{database: r.srv.store, before: new(sync.Once), hook: func() {
		rep, err := node2.Rekey(ctx)
		node2Full = rekeyOut{VaultBlobs: rep.VaultBlobs, SigningKeys: rep.SigningKeys, AlreadyCurrent: rep.AlreadyCurrent}
		hookErr = errors.Join(hookErr, err)
	}}
	node1 := rootKeyManager{keys: ring, store: hs, vstore: hv, vault: newService(hv)}
	rep1, err := node1.Rekey(ctx)
	if err != nil || hookErr != nil {
		t.Fatalf("rekey: %v; overtaking run: %v", err, hookErr)
	}
	st, err := node1.RootKeyStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.SealedBy) != 1 || st.SealedBy[0].RootKeyID != keyB.ID() || st.SealedBy[0].VaultBlobs != versions || st.SealedBy[0].SigningKeys == 0 {
		t.Fatalf("status: %+v", st)
	}
	signing := st.SealedBy[0].SigningKeys
	if node2Vault.Rewrapped != versions || rep1.VaultBlobs != 0 || node2Full.VaultBlobs != 0 {
		t.Fatalf("vault blobs re-sealed: node 2 %d then %d, node 1 %d; want %d by node 2's first run only", node2Vault.Rewrapped, node2Full.VaultBlobs, rep1.VaultBlobs, versions)
	}
	if node2Full.SigningKeys != signing || rep1.SigningKeys != 0 || rep1.AlreadyCurrent != versions+signing {
		t.Fatalf("signing keys: node 2 %+v, node 1 %+v; want all %d by node 2 and node 1 to count everything as already current", node2Full, rep1, signing)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	only := startServer(t, Config{Dev: true, DataDir: data, RootKeyFile: bFile})
	for i := range 5 {
		if _, err := only.srv.Vault().GetSecret(ctx, admin0, vault.DefaultVault, "s"+strconv.Itoa(i), ""); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadPreviousRootKeys(t *testing.T) {
	dir := t.TempDir()
	fileKey, err := seal.GenerateRootKeyFile(filepath.Join(dir, "old.key"))
	if err != nil {
		t.Fatal(err)
	}
	hexA, hexB := strings.Repeat("a1", 32), strings.Repeat("b2", 32)
	keyA, _ := seal.ParseRootKey(hexA)
	keyB, _ := seal.ParseRootKey(hexB)
	for _, tc := range []struct {
		name    string
		files   []string
		env     string
		want    []string
		wantErr string
	}{
		{"none", nil, "", nil, ""},
		{"file then env", []string{filepath.Join(dir, "old.key")}, hexA, []string{fileKey.ID(), keyA.ID()}, ""},
		{"env list with spaces and empty entries", nil, " " + hexA + " ,, " + hexB + ",", []string{keyA.ID(), keyB.ID()}, ""},
		{"bad env entry is named, not echoed", nil, hexA + "," + hexB[:40], nil, PreviousRootKeysEnv + " entry 2"},
		{"missing file", []string{filepath.Join(dir, "nope.key")}, "", nil, "--previous-root-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(PreviousRootKeysEnv, tc.env)
			keys, err := loadPreviousRootKeys(&Config{PreviousRootKeyFiles: tc.files})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), hexB[:40]) {
					t.Fatalf("error %v, want it to name %q without the key", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range keys {
				got = append(got, k.ID())
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("keys %v, want %v", got, tc.want)
			}
		})
	}
	if err := (&Config{Dev: true, PreviousRootKeyFiles: []string{" "}}).Validate(); err == nil || !strings.Contains(err.Error(), "--previous-root-key") {
		t.Fatalf("empty --previous-root-key: %v", err)
	}
}
