package vault_test

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/vault"
)

func TestISODuration_ParseAndAdd(t *testing.T) {
	base := time.Date(2031, 1, 31, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in    string
		canon string
		after time.Time
	}{
		{"P90D", "P90D", base.AddDate(0, 0, 90)},
		{"P3M", "P3M", base.AddDate(0, 3, 0)},
		{"PT48H", "PT48H", base.Add(48 * time.Hour)},
		{"P1Y10D", "P1Y10D", base.AddDate(1, 0, 10)},
		{"p2w", "P2W", base.AddDate(0, 0, 14)},
		{"P1DT1H30M5S", "P1DT1H30M5S", base.AddDate(0, 0, 1).Add(time.Hour + 30*time.Minute + 5*time.Second)},
	} {
		t.Run(tc.in, func(t *testing.T) {
			d, err := vault.ParseISODuration(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.String() != tc.canon {
				t.Fatalf("String() = %s, want %s", d, tc.canon)
			}
			if got := d.AddTo(base); !got.Equal(tc.after) {
				t.Fatalf("AddTo = %s, want %s", got, tc.after)
			}
			if got := d.SubtractFrom(d.AddTo(base)); tc.in != "P3M" && !got.Equal(base) {
				t.Fatalf("SubtractFrom(AddTo) = %s, want %s", got, base)
			}
		})
	}
	for _, bad := range []string{"", "P", "PT", "90D", "P1.5D", "P-1D", "PD", "P1H", "PT1D", "P1D1Y", "P1Y1Y", "P9999999D", "P1DT", "P 1D"} {
		t.Run("refused "+bad, func(t *testing.T) {
			if d, err := vault.ParseISODuration(bad); err == nil {
				t.Fatalf("parsed %q as %s", bad, d)
			}
		})
	}
}

func TestKeyRotationPolicy_ValidatedAsKeyVaultDoes(t *testing.T) {
	rotate := func(after, before string) vault.KeyLifetimeAction {
		return vault.KeyLifetimeAction{Action: "rotate", TimeAfterCreate: after, TimeBeforeExpiry: before}
	}
	for _, tc := range []struct {
		name string
		p    vault.KeyRotationPolicy
		want string // "" = valid
	}{
		{"rotate after 90 days, expire after 2 years", vault.KeyRotationPolicy{ExpiryTime: "P2Y", LifetimeActions: []vault.KeyLifetimeAction{rotate("P90D", "")}}, ""},
		{"rotate and notify before expiry", vault.KeyRotationPolicy{ExpiryTime: "P90D", LifetimeActions: []vault.KeyLifetimeAction{rotate("", "P30D"), {Action: "Notify", TimeBeforeExpiry: "P7D"}}}, ""},
		{"no actions", vault.KeyRotationPolicy{}, ""},
		{"expiry of exactly 100 years in months", vault.KeyRotationPolicy{ExpiryTime: "P1200M"}, ""},
		{"expiry under 28 days", vault.KeyRotationPolicy{ExpiryTime: "P27D"}, "at least 28 days"},
		{"expiry over 100 years", vault.KeyRotationPolicy{ExpiryTime: "P101Y"}, "at most 100 years"},
		{"expiry not ISO", vault.KeyRotationPolicy{ExpiryTime: "90 days"}, "not an ISO 8601 duration"},
		{"rotation under 7 days", vault.KeyRotationPolicy{LifetimeActions: []vault.KeyLifetimeAction{rotate("P6D", "")}}, "at least 7 days"},
		{"rotation too close to expiry", vault.KeyRotationPolicy{ExpiryTime: "P30D", LifetimeActions: []vault.KeyLifetimeAction{rotate("P25D", "")}}, "less than 7 days"},
		{"both triggers", vault.KeyRotationPolicy{LifetimeActions: []vault.KeyLifetimeAction{rotate("P30D", "P30D")}}, "exactly one of"},
		{"no trigger", vault.KeyRotationPolicy{LifetimeActions: []vault.KeyLifetimeAction{rotate("", "")}}, "exactly one of"},
		{"two rotates", vault.KeyRotationPolicy{LifetimeActions: []vault.KeyLifetimeAction{rotate("P30D", ""), rotate("P60D", "")}}, "at most one Rotate"},
		{"notify after create", vault.KeyRotationPolicy{LifetimeActions: []vault.KeyLifetimeAction{{Action: "Notify", TimeAfterCreate: "P30D"}}}, "timeBeforeExpiry only"},
		{"unknown action", vault.KeyRotationPolicy{LifetimeActions: []vault.KeyLifetimeAction{{Action: "Delete", TimeAfterCreate: "P30D"}}}, "Rotate or Notify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.p.Normalize()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range got.LifetimeActions {
					if a.Action != vault.KeyActionRotate && a.Action != vault.KeyActionNotify {
						t.Fatalf("action %q not canonical", a.Action)
					}
				}
				return
			}
			wantErr(t, err, vault.KindBadRequest, tc.want)
		})
	}
}

func TestRotateKey_SameTypeNewVersionWithPolicyExpiry(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		in   vault.KeyCreate
	}{
		{"rsa-3072", vault.KeyCreate{KeyType: "RSA", KeySize: 3072, KeyOps: []string{"sign", "verify"}, Tags: map[string]string{"team": "pay"}}},
		{"ec-p521", vault.KeyCreate{KeyType: "EC", Curve: "P-521"}},
		{"aes-192", vault.KeyCreate{KeyType: "oct-HSM", KeySize: 192, KeyOps: []string{"wrapKey", "unwrapKey"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", tc.name, tc.in))
			rotated := must[vault.Key](t)(e.svc.RotateKey(e.ctx, admin, "default", tc.name))
			if rotated.Version == first.Version {
				t.Fatal("rotation kept the version")
			}
			if rotated.JWK.Kty != first.JWK.Kty || rotated.JWK.Crv != first.JWK.Crv || len(rotated.JWK.N) != len(first.JWK.N) {
				t.Fatalf("rotated %s/%s/%d, was %s/%s/%d", rotated.JWK.Kty, rotated.JWK.Crv, len(rotated.JWK.N), first.JWK.Kty, first.JWK.Crv, len(first.JWK.N))
			}
			if string(rotated.JWK.X) == string(first.JWK.X) && string(rotated.JWK.N) == string(first.JWK.N) && first.JWK.Kty != "oct-HSM" {
				t.Fatal("rotation kept the key material")
			}
			if len(rotated.JWK.KeyOps) != len(first.JWK.KeyOps) || rotated.Tags["team"] != first.Tags["team"] {
				t.Fatalf("ops %v tags %v, was %v %v", rotated.JWK.KeyOps, rotated.Tags, first.JWK.KeyOps, first.Tags)
			}
			if !rotated.Attributes.Expires.IsZero() {
				t.Fatalf("expiry %s without a policy", rotated.Attributes.Expires)
			}
		})
	}
	// With a policy's expiryTime, the new version expires that long after rotation.
	must[vault.KeyRotationPolicy](t)(e.svc.UpdateKeyRotationPolicy(e.ctx, admin, "default", "ec-p521", vault.KeyRotationPolicy{ExpiryTime: "P3M"}))
	k := must[vault.Key](t)(e.svc.RotateKey(e.ctx, admin, "default", "ec-p521"))
	if want := start.AddDate(0, 3, 0); !k.Attributes.Expires.Equal(want) {
		t.Fatalf("expires %s, want %s", k.Attributes.Expires, want)
	}
	// The oct key of 192 bits rotates to 192 bits: A192KW works, A256KW does not.
	w := must[vault.KeyOperationResult](t)(e.svc.WrapKey(e.ctx, admin, "default", "aes-192", "", "A192KW", vault.NewValue(make([]byte, 32)), vault.SymmetricParams{}))
	if len(w.Result.Bytes()) != 40 {
		t.Fatalf("wrapped %d bytes", len(w.Result.Bytes()))
	}
	_, err := e.svc.RotateKey(e.ctx, admin, "default", "absent")
	wantErr(t, err, vault.KindNotFound, "absent")
	_, err = e.svc.RotateKey(e.ctx, vault.Caller{Principal: guard.Principal{AppID: "user", Roles: []string{vault.RoleCryptoUser}}}, "default", "ec-p521")
	wantErr(t, err, vault.KindForbidden)
}

func TestKeyRotationPolicy_DefaultStoredAndScheduled(t *testing.T) {
	rec := &recordingNotifier{}
	e := newEnv(t, func(c *vault.Config) { c.Notifier = rec })
	k := must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "k", vault.KeyCreate{KeyType: "EC"}))

	def := must[vault.KeyRotationPolicy](t)(e.svc.GetKeyRotationPolicy(e.ctx, admin, "default", "k"))
	if len(def.LifetimeActions) != 1 || def.LifetimeActions[0].Action != vault.KeyActionNotify || def.LifetimeActions[0].TimeBeforeExpiry != "P30D" || !def.Created.IsZero() {
		t.Fatalf("default policy %+v", def)
	}
	_, err := e.svc.GetKeyRotationPolicy(e.ctx, admin, "default", "absent")
	wantErr(t, err, vault.KindNotFound)
	_, err = e.svc.UpdateKeyRotationPolicy(e.ctx, admin, "default", "absent", vault.KeyRotationPolicy{})
	wantErr(t, err, vault.KindNotFound)

	set := must[vault.KeyRotationPolicy](t)(e.svc.UpdateKeyRotationPolicy(e.ctx, admin, "default", "k", vault.KeyRotationPolicy{
		ExpiryTime: "P60D",
		LifetimeActions: []vault.KeyLifetimeAction{
			{Action: "Rotate", TimeAfterCreate: "P30D"},
			{Action: "notify", TimeBeforeExpiry: "P10D"},
		},
	}))
	if !set.Created.Equal(start) || set.ExpiryTime != "P60D" || set.LifetimeActions[1].Action != vault.KeyActionNotify {
		t.Fatalf("stored policy %+v", set)
	}
	if got := must[vault.KeyRotationPolicy](t)(e.svc.GetKeyRotationPolicy(e.ctx, admin, "default", "k")); got.ExpiryTime != "P60D" || len(got.LifetimeActions) != 2 {
		t.Fatalf("read back %+v", got)
	}

	run := func() vault.LifetimeReport {
		t.Helper()
		rep, err := e.svc.RunLifetimeActions(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	// A day before the rotation time: nothing.
	e.clock.Advance(29 * 24 * time.Hour)
	if rep := run(); rep.Rotated != 0 || rep.Keys != 1 {
		t.Fatalf("early run %+v", rep)
	}
	// At 30 days: one rotation, with the policy's expiry, notified once.
	e.clock.Advance(24 * time.Hour)
	if rep := run(); rep.Rotated != 1 {
		t.Fatalf("run at 30 days %+v", rep)
	}
	if rep := run(); rep.Rotated != 0 {
		t.Fatalf("second run rotated again: %+v", rep)
	}
	newest := must[vault.Key](t)(e.svc.GetKey(e.ctx, admin, "default", "k", ""))
	if newest.Version == k.Version || !newest.Attributes.Expires.Equal(e.clock.Now().AddDate(0, 0, 60)) {
		t.Fatalf("newest %s expires %s", newest.Version, newest.Attributes.Expires)
	}
	if rec.count() != 1 || rec.got[0].Event != vault.EventKeyRotated || rec.got[0].NewVersion != newest.Version || rec.got[0].Version != k.Version {
		t.Fatalf("notifications %+v", rec.got)
	}
	// 10 days before the new version's expiry (50 days on), Notify fires;
	// the rotation (30 days after its creation) fired 20 days earlier.
	e.clock.Advance(30 * 24 * time.Hour)
	if rep := run(); rep.Rotated != 1 {
		t.Fatalf("second rotation %+v", rep)
	}
	third := must[vault.Key](t)(e.svc.GetKey(e.ctx, admin, "default", "k", ""))
	if third.Version == newest.Version {
		t.Fatal("no second rotation")
	}
	rec.mu.Lock()
	rec.got = nil
	rec.mu.Unlock()
	e.clock.Advance(50 * 24 * time.Hour) // past the third version's rotation and its notify time
	rep := run()
	if rep.Rotated != 1 {
		t.Fatalf("third rotation %+v", rep)
	}
	events := map[string]int{}
	for _, n := range rec.got {
		events[n.Event]++
	}
	if events[vault.EventKeyNearExpiry] != 1 || events[vault.EventKeyRotated] != 1 {
		t.Fatalf("events %v", events)
	}
}

func TestKeyRotationPolicy_DefaultNotifiesBeforeKeyExpiry(t *testing.T) {
	rec := &recordingNotifier{}
	e := newEnv(t, func(c *vault.Config) { c.Notifier = rec })
	must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "k", vault.KeyCreate{KeyType: "RSA", Expires: start.AddDate(0, 0, 40)}))
	must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "no-expiry", vault.KeyCreate{KeyType: "EC"}))
	e.clock.Advance(9 * 24 * time.Hour)
	if _, err := e.svc.RunLifetimeActions(e.ctx); err != nil || rec.count() != 0 {
		t.Fatalf("early: %d notifications, %v", rec.count(), err)
	}
	e.clock.Advance(24 * time.Hour)
	for range 2 {
		if _, err := e.svc.RunLifetimeActions(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if rec.count() != 1 || rec.got[0].Event != vault.EventKeyNearExpiry || rec.got[0].Name != "k" {
		t.Fatalf("notifications %+v", rec.got)
	}
}

func FuzzParseISODuration(f *testing.F) {
	for _, s := range []string{"P90D", "P3M", "PT48H", "P1Y10D", "P1Y2M3W4DT5H6M7S", "P", "PT", "P-1D", "P1.5D", "P1000000H"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := vault.ParseISODuration(s)
		if err != nil {
			return
		}
		// The canonical form parses to the same duration, and adding it
		// never goes backwards.
		again, err := vault.ParseISODuration(d.String())
		if err != nil || again != d {
			t.Fatalf("%q → %s → %+v, %v", s, d, again, err)
		}
		if base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC); d.AddTo(base).Before(base) {
			t.Fatalf("%q moves time backwards", s)
		}
	})
}
