package vault_test

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/vault"
)

func TestParseReference(t *testing.T) {
	ver := strings.Repeat("ab", 16)
	for _, tc := range []struct {
		in   string
		want vault.Ref
		err  string
	}{
		{in: "vault://default/secrets/db-password", want: vault.Ref{Vault: "default", Type: vault.Secrets, Name: "db-password"}},
		{in: "vault://Team-A/certificates/client/" + ver, want: vault.Ref{Vault: "team-a", Type: vault.Certificates, Name: "client", Version: ver}},
		{in: "vault://default/keys/k1", want: vault.Ref{Vault: "default", Type: vault.Keys, Name: "k1"}},
		{in: "vault://secrets/x", err: "expected vault://"},
		{in: "VAULT://default/secrets/x", err: "expected vault://"},
		{in: "vault://default/secret/x", err: "unknown object type"},
		{in: "vault://default/secrets/x/", err: "version"},
		{in: "vault://default/secrets/x/" + strings.ToUpper(ver), err: "lower-case hex"},
		{in: "vault://default/secrets/x/abc", err: "32"},
		{in: "vault://default/secrets/x/" + ver + "/more", err: "expected"},
		{in: "vault://default/secrets/a_b", err: "invalid name"},
		{in: "vault://default/secrets/", err: "invalid name"},
		{in: "vault://default//x", err: "unknown object type"},
		{in: "vault://d/secrets/x", err: "3-24"},
		{in: "vault://default/secrets/x?v=1", err: "invalid name"},
		{in: "vault://default/secrets/x%2Fy", err: "invalid name"},
		{in: "", err: "expected"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := vault.ParseReference(tc.in)
			if tc.err != "" {
				wantErr(t, err, vault.KindBadRequest, tc.err)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			if again, err := vault.ParseReference(got.String()); err != nil || again != got {
				t.Fatalf("round trip %q: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"vault://default/secrets/x", "vault://v1x/keys/k/" + strings.Repeat("0", 32), "vault://", "vault://a/b/c/d/e", "vault://default/certificates/é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := vault.ParseReference(s)
		if err != nil {
			if !vault.IsKind(err, vault.KindBadRequest) {
				t.Fatalf("error kind: %v", err)
			}
			return
		}
		if again, err := vault.ParseReference(r.String()); err != nil || again != r {
			t.Fatalf("%q: round trip %+v -> %+v, %v", s, r, again, err)
		}
		if !r.Type.Valid() || vault.ValidateName(r.Name) != nil || vault.ValidateVaultName(r.Vault) != nil {
			t.Fatalf("%q accepted as %+v", s, r)
		}
	})
}

func TestResolve_PicksNewestEnabledStartedUnexpiredVersion(t *testing.T) {
	hour := time.Hour
	type spec struct {
		value    string
		disabled bool
		nbf, exp time.Duration // relative to start; 0 = unset
	}
	for _, tc := range []struct {
		name     string
		versions []spec
		want     string
		err      string
	}{
		{"newest", []spec{{value: "a"}, {value: "b"}}, "b", ""},
		{"newest disabled falls back", []spec{{value: "a"}, {value: "b", disabled: true}}, "a", ""},
		{"newest not yet valid falls back", []spec{{value: "a"}, {value: "b", nbf: hour}}, "a", ""},
		{"newest expired falls back", []spec{{value: "a"}, {value: "b", exp: -hour}}, "a", ""},
		{"started and unexpired", []spec{{value: "a"}, {value: "b", nbf: -hour, exp: hour}}, "b", ""},
		{"none usable", []spec{{value: "a", exp: -hour}, {value: "b", disabled: true}}, "", "no version that is enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			for _, v := range tc.versions {
				in := vault.SecretInput{Value: vault.NewStringValue(v.value), Enabled: ptr(!v.disabled)}
				if v.nbf != 0 {
					in.NotBefore = start.Add(v.nbf)
				}
				if v.exp != 0 {
					in.Expires = start.Add(v.exp)
					if v.nbf == 0 && v.exp < 0 {
						in.NotBefore = start.Add(2 * v.exp)
					}
				}
				must[vault.Secret](t)(e.svc.SetSecret(e.ctx, admin, "default", "s", in))
			}
			ref := vault.Ref{Vault: "default", Type: vault.Secrets, Name: "s"}
			res, err := e.svc.Resolve(e.ctx, ref)
			if tc.err != "" {
				wantErr(t, err, vault.KindNotFound, tc.err)
				return
			}
			if err != nil || res.Secret.Value.Reveal() != tc.want || res.Ref.Version != res.Secret.Version {
				t.Fatalf("resolved %+v, %v; want %q", res, err, tc.want)
			}
		})
	}
	t.Run("exact version even when expired, not when disabled", func(t *testing.T) {
		e := newEnv(t)
		old := must[vault.Secret](t)(e.svc.SetSecret(e.ctx, admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("old"), Expires: start.Add(-hour), NotBefore: start.Add(-2 * hour)}))
		dis := must[vault.Secret](t)(e.svc.SetSecret(e.ctx, admin, "default", "s", vault.SecretInput{Value: vault.NewStringValue("dis"), Enabled: ptr(false)}))
		res := must[vault.Resolved](t)(e.svc.Resolve(e.ctx, vault.Ref{Vault: "default", Type: vault.Secrets, Name: "s", Version: old.Version}))
		if res.Secret.Value.Reveal() != "old" {
			t.Fatal(res.Secret.Value.Reveal())
		}
		_, err := e.svc.Resolve(e.ctx, vault.Ref{Vault: "default", Type: vault.Secrets, Name: "s", Version: dis.Version})
		wantErr(t, err, vault.KindForbidden, "disabled")
	})
}

func TestReferences_RefuseDeleteAndPurgeNamingReferrers(t *testing.T) {
	e := newEnv(t)
	setSecret(t, e, "backend-key", "x")
	ref := must[vault.Ref](t)(vault.ParseReference("vault://default/secrets/backend-key"))
	if err := e.svc.AddReference(e.ctx, ref, "gateway/route/orders"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.AddReference(e.ctx, ref, "connector/crm"); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.DeleteSecret(e.ctx, admin, "default", "backend-key")
	ve := wantErr(t, err, vault.KindConflict, "connector/crm", "gateway/route/orders")
	if ve.Code != vault.CodeConflict {
		t.Fatal(ve.Code)
	}
	if err := e.svc.RemoveReference(e.ctx, ref, "gateway/route/orders"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.svc.RemoveReference(e.ctx, ref, "gateway/route/orders"), vault.KindNotFound)
	_, err = e.svc.DeleteSecret(e.ctx, admin, "default", "backend-key")
	wantErr(t, err, vault.KindConflict, "connector/crm")
	if err := e.svc.RemoveReference(e.ctx, ref, "connector/crm"); err != nil {
		t.Fatal(err)
	}
	must[vault.Secret](t)(e.svc.DeleteSecret(e.ctx, admin, "default", "backend-key"))
	wantErr(t, e.svc.AddReference(e.ctx, ref, "late"), vault.KindNotFound)
	wantErr(t, e.svc.AddReference(e.ctx, vault.Ref{Vault: "default", Type: vault.Secrets, Name: "missing"}, "x"), vault.KindNotFound)
	wantErr(t, e.svc.AddReference(e.ctx, vault.Ref{Vault: "default", Type: vault.Secrets, Name: "x"}, ""), vault.KindBadRequest, "referrer")

	// A reference to a certificate's secret view protects the certificate.
	policy := vault.CertificatePolicy{X509Properties: &vault.X509Properties{Subject: "CN=c"}, KeyProperties: &vault.KeyProperties{KeyType: "EC"}}
	must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", "client-cert", vault.CertificateCreate{Policy: &policy}))
	cref := vault.Ref{Vault: "default", Type: vault.Secrets, Name: "client-cert"}
	if err := e.svc.AddReference(e.ctx, cref, "gateway/backend/billing"); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.DeleteCertificate(e.ctx, admin, "default", "client-cert")
	wantErr(t, err, vault.KindConflict, "gateway/backend/billing")
	res := must[vault.Resolved](t)(e.svc.Resolve(e.ctx, cref))
	if !res.Secret.Managed || res.Secret.Value.Len() == 0 {
		t.Fatalf("resolved secret view = %+v", res.Secret)
	}
	refs := must[[]vault.Reference](t)(e.svc.ListReferences(e.ctx, cref))
	if len(refs) != 1 || refs[0].Referrer != "gateway/backend/billing" {
		t.Fatalf("refs = %+v", refs)
	}
}
