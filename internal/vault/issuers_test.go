package vault_test

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/vault"
)

// newCA creates a vault CA certificate (non-exportable EC key, keyCertSign)
// under issuer ("Self" for a root) and its Portcullis issuer.
func newCA(t *testing.T, e *env, name, issuer string, months int) {
	t.Helper()
	no := false
	must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", name, vault.CertificateCreate{Policy: &vault.CertificatePolicy{
		KeyProperties:   &vault.KeyProperties{KeyType: "EC", Curve: "P-384", Exportable: &no},
		X509Properties:  &vault.X509Properties{Subject: "CN=" + name, ValidityMonths: months, KeyUsage: []string{"keyCertSign", "cRLSign"}},
		Issuer:          &vault.IssuerParameters{Name: issuer},
		LifetimeActions: []vault.LifetimeAction{},
	}}))
	p := vault.ProviderPortcullis
	must[vault.Issuer](t)(e.svc.SetIssuer(e.ctx, admin, "default", name, vault.IssuerInput{Provider: &p}))
}

func parseCER(t *testing.T, c vault.Certificate) *x509.Certificate {
	t.Helper()
	x, err := x509.ParseCertificate(c.CER)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestIssuers_CASignedCertificateRenewsFromItsCAAndNeverOutlivesIt(t *testing.T) {
	e := newEnv(t)
	newCA(t, e, "root", "Self", 24)
	root := parseCER(t, must[vault.Certificate](t)(e.svc.GetCertificate(e.ctx, admin, "default", "root", "")))
	policy := vault.CertificatePolicy{
		X509Properties: &vault.X509Properties{Subject: "CN=svc", ValidityMonths: 36, EKUs: []string{"1.3.6.1.5.5.7.3.1"}},
		KeyProperties:  &vault.KeyProperties{KeyType: "EC"},
		Issuer:         &vault.IssuerParameters{Name: "root"},
		LifetimeActions: []vault.LifetimeAction{
			{Trigger: vault.LifetimeTrigger{DaysBeforeExpiry: 30}, Action: vault.ActionType{ActionType: vault.ActionAutoRenew}},
		},
	}
	op := must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", "svc", vault.CertificateCreate{Policy: &policy}))
	if op.IssuerName != "root" || op.Status != "completed" {
		t.Fatalf("operation: issuer %q status %q", op.IssuerName, op.Status)
	}
	first := must[vault.Certificate](t)(e.svc.GetCertificate(e.ctx, admin, "default", "svc", ""))
	leaf := parseCER(t, first)
	if err := leaf.CheckSignatureFrom(root); err != nil {
		t.Fatalf("not signed by the vault CA: %v", err)
	}
	if !leaf.NotAfter.Equal(root.NotAfter) {
		t.Fatalf("36 months asked, CA valid 24: leaf expires %v, CA %v", leaf.NotAfter, root.NotAfter)
	}
	if leaf.IsCA {
		t.Fatal("a leaf without keyCertSign is a CA")
	}

	e.clock.Advance(leaf.NotAfter.Sub(e.clock.Now()) - 29*24*time.Hour)
	rep, err := e.svc.RunLifetimeActions(e.ctx)
	if err != nil || rep.Renewed != 1 {
		t.Fatalf("renewal: %+v, %v", rep, err)
	}
	renewed := must[vault.Certificate](t)(e.svc.GetCertificate(e.ctx, admin, "default", "svc", ""))
	if renewed.Version == first.Version {
		t.Fatal("no new version")
	}
	if err := parseCER(t, renewed).CheckSignatureFrom(root); err != nil {
		t.Fatalf("the renewed version is not signed by the vault CA: %v", err)
	}
}

func TestIssuers_RefusalsAndPaging(t *testing.T) {
	e := newEnv(t)
	newCA(t, e, "ca-b", "Self", 12)
	newCA(t, e, "ca-a", "ca-b", 12)
	newCA(t, e, "ca-c", "ca-b", 12)
	p := vault.ProviderPortcullis
	for _, tc := range []struct {
		name   string
		issuer string
		in     vault.IssuerInput
		kind   vault.ErrorKind
		want   string
	}{
		{"no provider", "x", vault.IssuerInput{}, vault.KindBadRequest, "provider is required"},
		{"GlobalSign", "x", vault.IssuerInput{Provider: ptr("GlobalSign")}, vault.KindBadRequest, "cannot reach"},
		{"account id names no CA", "ca-a", vault.IssuerInput{Provider: &p, AccountID: ptr("ghost")}, vault.KindBadRequest, `"ghost" does not exist`},
		{"bad name", "bad name!", vault.IssuerInput{Provider: &p}, vault.KindBadRequest, ""},
		{"unknown reserved", "unknown", vault.IssuerInput{Provider: &p}, vault.KindBadRequest, "reserved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.SetIssuer(e.ctx, admin, "default", tc.issuer, tc.in)
			wantErr(t, err, tc.kind, tc.want)
		})
	}
	_, err := e.svc.GetIssuer(e.ctx, admin, "default", "ghost")
	wantErr(t, err, vault.KindNotFound, "Issuer not found")
	_, err = e.svc.DeleteIssuer(e.ctx, admin, "default", "ghost")
	wantErr(t, err, vault.KindNotFound)

	var names []string
	var req vault.PageRequest
	req.MaxResults = 2
	for pages := 0; ; pages++ {
		page := must[vault.Page[vault.Issuer]](t)(e.svc.ListIssuers(e.ctx, admin, "default", req))
		for _, is := range page.Items {
			names = append(names, is.Name)
		}
		if page.Next == "" {
			break
		}
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		req.After = page.Next
	}
	if len(names) != 3 || names[0] != "ca-a" || names[1] != "ca-b" || names[2] != "ca-c" {
		t.Fatalf("issuers = %v", names)
	}

	// A caller with a role on one certificate only cannot manage issuers.
	scoped := vault.Caller{Principal: guard.Principal{AppID: "app-1"}, RequestID: "r"}
	must[vault.RoleAssignment](t)(e.svc.AssignRole(e.ctx, admin, vault.RoleAssignment{Vault: "default", PrincipalID: "app-1", Role: vault.RoleCertificatesOfficer, Scope: "certificates/ca-a"}))
	_, err = e.svc.SetIssuer(e.ctx, scoped, "default", "ca-a", vault.IssuerInput{Provider: &p})
	wantErr(t, err, vault.KindForbidden, "Certificates Officer")
	reader := vault.Caller{Principal: guard.Principal{AppID: "app-2"}, RequestID: "r"}
	must[vault.RoleAssignment](t)(e.svc.AssignRole(e.ctx, admin, vault.RoleAssignment{Vault: "default", PrincipalID: "app-2", Role: vault.RoleReader}))
	must[vault.Issuer](t)(e.svc.GetIssuer(e.ctx, reader, "default", "ca-a"))
	_, err = e.svc.DeleteIssuer(e.ctx, reader, "default", "ca-a")
	wantErr(t, err, vault.KindForbidden)
}

func TestContacts_NotificationsNameTheVaultsContacts(t *testing.T) {
	secret := []byte("0123456789abcdef-webhook")
	hook := newHookServer(t, secret)
	notifier, err := vault.NewWebhookNotifier(hook.url, secret, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *vault.Config) { c.Notifier = notifier })
	cs := []vault.Contact{{Email: "pki@example.test", Name: "PKI"}, {Email: "oncall@example.test"}}
	must[[]vault.Contact](t)(e.svc.SetContacts(e.ctx, admin, "default", cs))
	for _, bad := range [][]vault.Contact{nil, {{Email: "no-at-sign"}}, {{Email: "a@b, c@d"}}} {
		_, err := e.svc.SetContacts(e.ctx, admin, "default", bad)
		wantErr(t, err, vault.KindBadRequest)
	}
	must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", "c", vault.CertificateCreate{Policy: &vault.CertificatePolicy{
		X509Properties: &vault.X509Properties{Subject: "CN=c", ValidityMonths: 12},
		KeyProperties:  &vault.KeyProperties{KeyType: "EC"},
	}}))
	e.clock.Advance(300 * 24 * time.Hour) // past the default EmailContacts at 80%
	if rep, err := e.svc.RunLifetimeActions(e.ctx); err != nil || rep.Notified != 1 {
		t.Fatalf("run: %+v, %v", rep, err)
	}
	ev := hook.events()
	if len(ev) != 1 || len(ev[0].Contacts) != 2 || ev[0].Contacts[0].Email != "pki@example.test" || ev[0].Contacts[1].Email != "oncall@example.test" {
		t.Fatalf("notification contacts: %+v", ev)
	}
	got := must[[]vault.Contact](t)(e.svc.DeleteContacts(e.ctx, admin, "default"))
	if len(got) != 2 {
		t.Fatalf("deleted %+v", got)
	}
	_, err = e.svc.GetContacts(e.ctx, admin, "default")
	wantErr(t, err, vault.KindNotFound, "SetContacts")
}
