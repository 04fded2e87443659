package sts_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/sts"
)

// kidOf returns the kid in a token's header.
func kidOf(t testing.TB, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Alg, Typ, Kid string }
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	if hdr.Alg != "RS256" || hdr.Typ != "JWT" {
		t.Fatalf("header = %+v", hdr)
	}
	return hdr.Kid
}

func (e *env) jwksKids(t testing.TB) []string {
	t.Helper()
	var set struct{ Keys []struct{ Kid string } }
	e.getJSON(t, e.base+"/"+e.tenant.ID+"/discovery/v2.0/keys", &set)
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

func (e *env) issue(t testing.TB) string {
	t.Helper()
	r := e.post(t, "", e.secretForm(e.secretClient, e.secret), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("token: %d %s", r.Status, r.Raw)
	}
	return r.Token
}

func (e *env) statuses(t testing.TB) map[string]string {
	t.Helper()
	infos, err := e.srv.SigningKeys(e.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, k := range infos {
		m[k.KID] = k.Status
	}
	return m
}

func sameSet(a []string, b ...string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

func TestRotation_StagesKeysAndKeepsOldTokensValid(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	wantRoles := []string{"Orders.Read", "Orders.Write"}

	t1 := e.issue(t)
	k1 := kidOf(t, t1)

	// Emergency rotation: the new key signs at once; tokens of the old key
	// keep verifying.
	e.clock.Advance(time.Second)
	k2, err := e.srv.RotateSigningKeys(ctx, "contoso", true)
	if err != nil {
		t.Fatal(err)
	}
	e.reload(t)
	t2 := e.issue(t)
	if kidOf(t, t2) != k2 {
		t.Fatalf("after immediate rotation the token is signed by %s; want %s", kidOf(t, t2), k2)
	}
	e.checkToken(t, t1, e.secretClient, "1", wantRoles)
	e.checkToken(t, t2, e.secretClient, "1", wantRoles)
	if st := e.statuses(t); st[k1] != sts.KeyStatusRetired || st[k2] != sts.KeyStatusActive {
		t.Fatalf("statuses = %v", st)
	}

	// Scheduled rotation, on the node holding the lease, when the newest key
	// is KeyRotationInterval − KeyPrepublish old: the next key is published
	// a day before it signs. k1's window ended long ago: it is deleted.
	e.clock.Advance(29 * 24 * time.Hour)
	held, err := e.srv.RotateDueKeys(ctx, time.Minute)
	if err != nil || !held {
		t.Fatalf("RotateDueKeys = %v, %v", held, err)
	}
	e.reload(t)
	st := e.statuses(t)
	if len(st) != 2 || st[k2] != sts.KeyStatusActive {
		t.Fatalf("after scheduled rotation statuses = %v; want k2 active and a next key, k1 deleted", st)
	}
	var k3 string
	for kid, s := range st {
		if s == sts.KeyStatusNext {
			k3 = kid
		}
	}
	if kids := e.jwksKids(t); !sameSet(kids, k2, k3) {
		t.Fatalf("JWKS kids = %v; want %s (active) and %s (next)", kids, k2, k3)
	}
	if _, err := e.srv.VerifyAccessToken(t1); !errors.Is(err, sts.ErrInvalidToken) {
		t.Fatalf("token of the deleted key: err = %v", err)
	}

	// Not due again right away.
	before := len(e.keys.all())
	if _, err := e.srv.RotateDueKeys(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := len(e.keys.all()); n != before {
		t.Fatalf("a second pass created keys: %d → %d", before, n)
	}

	// Half an hour before activation tokens are still signed by k2.
	e.clock.Advance(24*time.Hour - 30*time.Minute)
	tOld := e.issue(t)
	if kidOf(t, tOld) != k2 {
		t.Fatalf("before activation signed by %s; want %s", kidOf(t, tOld), k2)
	}
	// After activation: signed by k3; the k2 token still verifies.
	e.clock.Advance(31 * time.Minute)
	tNew := e.issue(t)
	if kidOf(t, tNew) != k3 {
		t.Fatalf("after activation signed by %s; want %s", kidOf(t, tNew), k3)
	}
	e.checkToken(t, tOld, e.secretClient, "1", wantRoles)
	e.checkToken(t, tNew, e.secretClient, "1", wantRoles)
	infos, _ := e.srv.SigningKeys(e.tenant.ID)
	var k2Until time.Time
	for _, k := range infos {
		if k.KID == k2 {
			k2Until = k.PublishedUntil
		}
	}
	if k2Until.IsZero() || k2Until.Before(e.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("k2 published until %v; want at least the longest token lifetime after k3 activated", k2Until)
	}

	// After k2's window, it leaves the JWKS, and rotation deletes it.
	e.clock.Set(k2Until.Add(time.Second))
	if kids := e.jwksKids(t); !sameSet(kids, k3) {
		t.Fatalf("JWKS kids after k2's window = %v; want only %s", kids, k3)
	}
	if _, err := e.srv.RotateDueKeys(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	e.reload(t)
	if ks := e.keys.all(); len(ks) != 1 || ks[0].KID != k3 {
		t.Fatalf("store keys after the window: %d; want only %s", len(ks), k3)
	}
}

func TestRotation_OnlyTheLeaseHolderRotates(t *testing.T) {
	a := newEnvNoTLS(t)
	b := sts.New(sts.Config{Now: a.clock.Now, NodeID: "node-b"}, a.keys, testSealer(t))
	if err := b.Apply(a.snapshot(1), nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a.clock.Advance(30 * 24 * time.Hour)
	if held, err := a.srv.RotateDueKeys(ctx, time.Minute); err != nil || !held {
		t.Fatalf("node a: held=%v err=%v", held, err)
	}
	if held, err := b.RotateDueKeys(ctx, time.Minute); err != nil || held {
		t.Fatalf("node b rotated while a holds the lease: held=%v err=%v", held, err)
	}
	if n := len(a.keys.all()); n != 2 {
		t.Fatalf("%d keys; want 2 (one rotation)", n)
	}
	// When a stops renewing, b takes over after the lease expires.
	a.clock.Advance(2 * time.Minute)
	if held, err := b.RotateDueKeys(ctx, time.Minute); err != nil || !held {
		t.Fatalf("node b after a's lease expired: held=%v err=%v", held, err)
	}
}

func TestVerifyAccessToken_RefusesForgeries(t *testing.T) {
	e := newEnvNoTLS(t)
	e.base = "https://sts.example"
	good := e.issueInProcess(t)
	if _, err := e.srv.VerifyAccessToken(good); err != nil {
		t.Fatalf("good token: %v", err)
	}
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	kid := kidOf(t, good)
	resign := func(m jwt.SigningMethod, key any, edit func(map[string]any)) string {
		var c map[string]any
		json.Unmarshal(payload, &c)
		if edit != nil {
			edit(c)
		}
		tok := jwt.NewWithClaims(m, jwt.MapClaims(c))
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		name, tok string
	}{
		{"not a JWT", "abc"},
		{"payload changed", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"roles":["Orders.Read"`, `"roles":["Orders.Admin"`, 1))) + "." + parts[2]},
		{"signed by another key", resign(jwt.SigningMethodRS256, otherRSA, nil)},
		{"alg none", resign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil)},
		{"alg HS256 with the public key as secret", resign(jwt.SigningMethodHS256, []byte(pki.X5T(e.rsaCert)), nil)},
		{"PS256", resign(jwt.SigningMethodPS256, clientRSA, nil)},
		{"unknown tenant", resign(jwt.SigningMethodRS256, clientRSA, func(c map[string]any) { c["tid"] = guid() })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.srv.VerifyAccessToken(tc.tok); !errors.Is(err, sts.ErrInvalidToken) {
				t.Fatalf("err = %v; want ErrInvalidToken", err)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		e.clock.Advance(2 * time.Hour)
		if _, err := e.srv.VerifyAccessToken(good); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestLogs_NeverContainSecretsOrTokens(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEnv(t, func(c *sts.Config) { c.Logger = log })
	tok := e.issue(t)
	e.post(t, "", e.secretForm(e.secretClient, e.secret+"x"), nil)
	e.post(t, "", e.secretForm(e.expiredSecret, e.expiredSecretText), nil)
	a := e.assertion(t, jwt.SigningMethodPS256, clientRSA, map[string]any{"x5t#S256": pki.X5TS256(e.rsaCert)}, e.certClient.AppID, nil)
	e.post(t, "", e.assertionForm(e.certClient.AppID, a), nil)
	e.post(t, "", e.assertionForm(e.certClient.AppID, a), nil) // replay: refused and logged
	logs := buf.String()
	if !strings.Contains(logs, "already used") || !strings.Contains(logs, "issued access token") {
		t.Fatalf("expected log lines missing:\n%s", logs)
	}
	sig := a[strings.LastIndexByte(a, '.')+1:]
	for name, s := range map[string]string{"secret": e.secret, "expired secret": e.expiredSecretText, "token": tok[strings.LastIndexByte(tok, '.')+1:], "assertion": sig} {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains the %s", name)
		}
	}
}

func TestRotation_ImmediateRotationInTheSameSecondStillSupersedes(t *testing.T) {
	e := newEnvNoTLS(t)
	e.base = "https://sts.example"
	ctx := context.Background()
	first := kidOf(t, e.issueInProcess(t))
	kid, err := e.srv.RotateSigningKeys(ctx, e.tenant.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	e.reload(t)
	// A store may keep times to the second: the new key activates at the
	// next second, not at a time that ties with the current key.
	if got := kidOf(t, e.issueInProcess(t)); got != first {
		t.Fatalf("signed by %s within the same second; want the current key %s", got, first)
	}
	e.clock.Advance(time.Second)
	if got := kidOf(t, e.issueInProcess(t)); got != kid {
		t.Fatalf("signed by %s; want the new key %s", got, kid)
	}
}

func TestApply_RefusesKeysSealedUnderAnotherRootKeyAndKeepsServing(t *testing.T) {
	e := newEnvNoTLS(t)
	e.base = "https://sts.example"
	other := newEnvNoTLS(t) // same root key, different tenant and keys
	keys := other.keys.all()
	keys[0].TenantID = e.tenant.ID // AAD binds the blob to its tenant: unsealing must fail
	err := e.srv.Apply(e.snapshot(99), append(e.keys.all(), keys...))
	if err == nil || !strings.Contains(err.Error(), "unseal signing key") {
		t.Fatalf("Apply = %v; want an unseal error", err)
	}
	if e.srv.Snapshot().Revision == 99 {
		t.Fatal("a failed Apply replaced the snapshot")
	}
	e.issueInProcess(t)
}

func TestPublicURL_FixesIssuerAndAssertionAudience(t *testing.T) {
	e := newEnvNoTLS(t, func(c *sts.Config) { c.PublicURL = "https://login.example.com:8443/" })
	e.base = "https://127.0.0.1:1" // the Host header clients happen to use
	tok := e.issueInProcess(t)
	c, err := e.srv.VerifyAccessToken(tok)
	if err != nil || c.Issuer != "https://login.example.com:8443/"+e.tenant.ID+"/v2.0" {
		t.Fatalf("issuer = %q, err %v", c.Issuer, err)
	}
	hdr := map[string]any{"x5t#S256": pki.X5TS256(e.rsaCert)}
	for aud, want := range map[string]int{
		"https://login.example.com:8443/" + e.tenant.ID + "/oauth2/v2.0/token": http.StatusOK,
		"https://login.example.com:8443/contoso/oauth2/token":                  http.StatusOK,
		"https://login.example.com:8443/" + e.tenant.ID + "/v2.0":              http.StatusOK,
		e.base + "/" + e.tenant.ID + "/oauth2/v2.0/token":                      http.StatusUnauthorized,
	} {
		a := e.assertion(t, jwt.SigningMethodPS256, clientRSA, hdr, e.certClient.AppID, func(c jwt.MapClaims) { c["aud"] = aud })
		if w := e.serveInProcess(e.assertionForm(e.certClient.AppID, a).Encode(), true); w.status != want {
			t.Errorf("aud %s: status %d; want %d\n%s", aud, w.status, want, w.body)
		}
	}
}
