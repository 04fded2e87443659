package sts_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/jws"
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
	// Verified as the vault and the admin API do (guard over the
	// in-process key source): k1 is no longer published.
	if _, err := e.verify(t1); !refused(err, "does not publish a signing key") {
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

// refused reports whether err is guard's 401 invalid_token and its
// description says why, containing reason.
func refused(err error, reason string) bool {
	var ge *guard.Error
	return errors.As(err, &ge) && ge.Status == http.StatusUnauthorized && ge.Code == guard.CodeInvalidToken &&
		strings.Contains(ge.Description, reason)
}

// TestGuardOverKeySource_RefusesForgeries: bearer verification lives in
// guard only; the token service is its in-process key source. The vault
// and the admin API verify this way (RS256 only, internal/server), so this
// table proves that the pair refuses forged and misused tokens of this
// service, each for the right reason.
func TestGuardOverKeySource_RefusesForgeries(t *testing.T) {
	e := newEnvNoTLS(t)
	e.base = "https://sts.example"
	ctx := context.Background()
	v, err := guard.NewVerifier(guard.VerifierConfig{Keys: e.srv, Audiences: []string{e.resource.AppID}, Now: e.clock.Now, Algorithms: []string{"RS256"}})
	if err != nil {
		t.Fatal(err)
	}
	good := e.issueInProcess(t)
	k1 := kidOf(t, good)
	// A second published key, so that kid tricks can name a real one.
	k2, err := e.srv.RotateSigningKeys(ctx, e.tenant.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	e.reload(t)
	if p, err := v.Verify(ctx, good); err != nil || p.AppID != e.secretClient.AppID || p.TenantID != e.tenant.ID {
		t.Fatalf("genuine token: %+v, %v", p, err)
	}
	iss := e.base + "/" + e.tenant.ID + "/v2.0"
	pub, err := e.srv.Key(ctx, iss, k1)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	h, p, sig := splitJWS(good)
	var claims map[string]any
	if err := json.Unmarshal(b64d(t, p), &claims); err != nil {
		t.Fatal(err)
	}
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	edited := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		edit(c)
		return c
	}
	// forge signs header and claims with key (an attacker's: the service's
	// private keys never leave it).
	forge := func(alg string, key crypto.Signer, hdr map[string]any, c map[string]any) string {
		hdr["alg"] = alg
		in := enc(hdr) + "." + enc(c)
		sig, err := jws.Sign(alg, key, in)
		if err != nil {
			t.Fatal(err)
		}
		return in + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	hmacSign := func(alg string, secret []byte) string {
		in := enc(map[string]any{"alg": alg, "typ": "JWT", "kid": k1}) + "." + p
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	attackerJWK := map[string]any{"kty": "RSA", "kid": k1, "e": "AQAB", "n": base64.RawURLEncoding.EncodeToString(otherRSA.N.Bytes())}
	other := newEnvNoTLS(t) // another tenant of another token service
	other.base = e.base
	otherGood := other.issueInProcess(t)
	second := e.issueInProcess(t) // the same client's next token
	flipped := b64d(t, sig)
	flipped[len(flipped)/2] ^= 1

	cases := []struct {
		name, tok, reason string
	}{
		{"empty", "", "three dot-separated parts"},
		{"not a JWT", "abc", "three dot-separated parts"},
		{"oversized", h + "." + strings.Repeat("A", 16<<10) + "." + sig, "this API accepts at most"},
		{"padding appended to the signature", good + "=", "'=' padding"},
		{"alg none without signature", enc(map[string]any{"alg": "none", "kid": k1}) + "." + p + ".", "signature is empty"},
		{"alg none with the genuine signature", enc(map[string]any{"alg": "none", "kid": k1}) + "." + p + "." + sig, "never accepted"},
		{"alg None", enc(map[string]any{"alg": "None", "kid": k1}) + "." + p + "." + sig, "never accepted"},
		{"alg NONE", enc(map[string]any{"alg": "NONE", "kid": k1}) + "." + p + "." + sig, "never accepted"},
		{"alg HS256 keyed with the public key PEM", hmacSign("HS256", pubPEM), "never accepted"},
		{"alg HS256 keyed with the public key DER", hmacSign("HS256", pubDER), "never accepted"},
		{"alg PS256 signed by another key", forge("PS256", otherRSA, map[string]any{"kid": k1}, claims), "is not accepted"},
		{"alg ES256 signed by another key", forge("ES256", clientEC, map[string]any{"kid": k1}, claims), "is not accepted"},
		{"signed by another key under the service's kid", forge("RS256", otherRSA, map[string]any{"kid": k1}, claims), "signature is not valid"},
		{"injected jwk", forge("RS256", otherRSA, map[string]any{"kid": k1, "jwk": attackerJWK}, claims), `carries "jwk"`},
		{"injected jwk without kid", forge("RS256", otherRSA, map[string]any{"jwk": attackerJWK}, claims), `carries "jwk"`},
		{"injected jku", forge("RS256", otherRSA, map[string]any{"kid": k1, "jku": "https://attacker.example/keys"}, claims), `carries "jku"`},
		{"injected x5u", forge("RS256", otherRSA, map[string]any{"kid": k1, "x5u": "https://attacker.example/cert"}, claims), `carries "x5u"`},
		{"injected x5c of the signer's own certificate", forge("RS256", clientRSA, map[string]any{"kid": k1, "x5c": []string{base64.StdEncoding.EncodeToString(e.rsaCert.Raw)}}, claims), "signature is not valid"},
		{"unknown critical header", forge("RS256", otherRSA, map[string]any{"kid": k1, "crit": []string{"exp"}, "exp": 1}, claims), "critical extensions"},
		{"no kid", forge("RS256", otherRSA, map[string]any{}, claims), "has no kid"},
		{"unknown kid", forge("RS256", otherRSA, map[string]any{"kid": "../../keys/attacker"}, claims), "does not publish a signing key"},
		{"kid of the service's other published key", enc(map[string]any{"alg": "RS256", "typ": "JWT", "kid": k2}) + "." + p + "." + sig, "signature is not valid"},
		{"kid in another case", enc(map[string]any{"alg": "RS256", "typ": "JWT", "kid": strings.ToUpper(k1)}) + "." + p + "." + sig, "does not publish a signing key"},
		{"flipped signature bit", h + "." + p + "." + base64.RawURLEncoding.EncodeToString(flipped), "signature is not valid"},
		{"truncated signature", h + "." + p + "." + base64.RawURLEncoding.EncodeToString(b64d(t, sig)[:255]), "signature is not valid"},
		{"payload with an added role", h + "." + enc(edited(func(c map[string]any) { c["roles"] = []string{"Orders.Read", "Orders.Write", "Orders.Admin"} })) + "." + sig, "signature is not valid"},
		{"payload of the next token", h + "." + strings.Split(second, ".")[1] + "." + sig, "signature is not valid"},
		{"payload of another client", forge("RS256", otherRSA, map[string]any{"kid": k1}, edited(func(c map[string]any) { c["azp"] = e.certClient.AppID })), "signature is not valid"},
		{"iss of an unknown tenant", forge("RS256", otherRSA, map[string]any{"kid": k1}, edited(func(c map[string]any) { c["iss"] = e.base + "/" + guid() + "/v2.0" })), "does not publish a signing key"},
		{"iss over http", forge("RS256", otherRSA, map[string]any{"kid": k1}, edited(func(c map[string]any) { c["iss"] = "http://sts.example/" + e.tenant.ID + "/v2.0" })), "does not publish a signing key"},
		{"iss naming the tenant by name", forge("RS256", otherRSA, map[string]any{"kid": k1}, edited(func(c map[string]any) { c["iss"] = e.base + "/contoso/v2.0" })), "does not publish a signing key"},
		{"no iss", forge("RS256", otherRSA, map[string]any{"kid": k1}, edited(func(c map[string]any) { delete(c, "iss") })), "no iss claim"},
		{"genuine token of another token service's tenant", otherGood, "does not publish a signing key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := v.Verify(ctx, tc.tok); !refused(err, tc.reason) {
				t.Fatalf("Verify = %+v, %v; want 401 invalid_token saying %q", p, err, tc.reason)
			}
		})
	}

	// Genuine tokens, misused.
	t.Run("genuine token for another audience", func(t *testing.T) {
		if _, err := e.newVerifier(t, "api://another-api").Verify(ctx, good); !refused(err, "which is not this API's") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("genuine token before it is valid", func(t *testing.T) {
		early := newVerifier(t, e.srv, e.resource.AppID, func() time.Time { return e.clock.Now().Add(-2 * time.Minute) })
		if _, err := early.Verify(ctx, good); !refused(err, "not valid before") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("genuine token past its expiry and the leeway", func(t *testing.T) {
		late := newVerifier(t, e.srv, e.resource.AppID, func() time.Time { return e.clock.Now().Add(time.Hour + guard.DefaultLeeway + time.Second) })
		if _, err := late.Verify(ctx, good); !refused(err, "expired at") {
			t.Fatalf("err = %v", err)
		}
	})
	if _, err := v.Verify(ctx, good); err != nil {
		t.Fatalf("the genuine token after the forgeries: %v", err)
	}
}

// TestGuardOverKeySource_RefusesTokensOfAKeyThatLeftTheKeySet: a token
// verified (and cached) while its key was published is refused once the
// key leaves the tenant's key set, even on a verifier whose clock still
// holds the token valid; tokens signed before a rotation keep verifying
// while their key is published.
func TestGuardOverKeySource_RefusesTokensOfAKeyThatLeftTheKeySet(t *testing.T) {
	e := newEnvNoTLS(t)
	e.base = "https://sts.example"
	ctx := context.Background()
	tok := e.issueInProcess(t)
	issued := e.clock.Now()
	// The verifier's clock stays at issuance: only the key set changes.
	v := newVerifier(t, e.srv, e.resource.AppID, func() time.Time { return issued })
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	kid, err := e.srv.RotateSigningKeys(ctx, e.tenant.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	e.reload(t)
	e.clock.Advance(time.Second)
	if got := kidOf(t, e.issueInProcess(t)); got != kid {
		t.Fatalf("signed by %s after the rotation; want %s", got, kid)
	}
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("token of the retired key within its window: %v", err)
	}
	e.clock.Advance(25*time.Hour + 11*time.Minute) // MaxTokenLifetime + retire margin: the key leaves the set
	if _, err := v.Verify(ctx, tok); !refused(err, "does not publish a signing key") {
		t.Fatalf("token of a key that left the key set: err = %v", err)
	}
}

func splitJWS(tok string) (h, p, s string) {
	h, rest, _ := strings.Cut(tok, ".")
	p, s, _ = strings.Cut(rest, ".")
	return h, p, s
}

func b64d(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
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
	p, err := e.verify(tok)
	if err != nil || p.Issuer != "https://login.example.com:8443/"+e.tenant.ID+"/v2.0" {
		t.Fatalf("principal %+v, err %v; want issuer https://login.example.com:8443/%s/v2.0", p, err, e.tenant.ID)
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
