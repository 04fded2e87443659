package vault_test

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/vault"
)

// expected is the Key Vault built-in role matrix written out by hand
// (https://learn.microsoft.com/azure/key-vault/general/rbac-guide), kept
// independent of the package's table on purpose.
var expected = map[string][]string{
	vault.RoleSecretsOfficer:              {"getSecret", "listSecrets", "setSecret", "updateSecret", "deleteSecret", "recoverSecret", "purgeSecret", "downloadPFX", "backupSecret", "restoreSecret"},
	vault.RoleSecretsUser:                 {"getSecret", "listSecrets", "downloadPFX"},
	vault.RoleCertificatesOfficer:         {"getCertificate", "listCertificates", "createCertificate", "importCertificate", "updateCertificate", "deleteCertificate", "recoverCertificate", "purgeCertificate", "backupCertificate", "restoreCertificate"},
	vault.RoleCertificateUser:             {"getCertificate", "listCertificates", "getSecret", "listSecrets", "getKey", "listKeys", "downloadPFX"},
	vault.RoleCryptoOfficer:               {"getKey", "listKeys", "createKey", "importKey", "updateKey", "deleteKey", "recoverKey", "purgeKey", "sign", "verify", "encrypt", "decrypt", "wrapKey", "unwrapKey", "backupKey", "restoreKey", "rng"},
	vault.RoleCryptoUser:                  {"getKey", "listKeys", "updateKey", "sign", "verify", "encrypt", "decrypt", "wrapKey", "unwrapKey", "backupKey", "rng"},
	vault.RoleCryptoServiceEncryptionUser: {"getKey", "listKeys", "wrapKey", "unwrapKey"},
	vault.RoleReader:                      {"listSecrets", "getCertificate", "listCertificates", "getKey", "listKeys"},
	"(no role)":                           {},
}

type rbacOp struct {
	name string
	run  func(t *testing.T, e *env, c vault.Caller, n string) error
}

func rbacOps(t *testing.T, e *env) []rbacOp {
	cert, key := testCert(t, "imp", pki.KeyTypeEC256)
	certPEM := pemOf(t, cert, key)
	policy := vault.CertificatePolicy{X509Properties: &vault.X509Properties{Subject: "CN=x"}, KeyProperties: &vault.KeyProperties{KeyType: "EC"}}
	mkCert := func(t *testing.T, n string) {
		must[vault.Certificate](t)(e.svc.ImportCertificate(e.ctx, admin, "default", n, vault.CertificateImport{Data: certPEM}))
	}
	mkKey := func(t *testing.T, n string) {
		must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", n, vault.KeyCreate{KeyType: "EC"}))
	}
	digest := sha256.Sum256([]byte("m"))
	sig := must[vault.KeyOperationResult](t)(e.svc.Sign(e.ctx, admin, "default", "rsa", "", "RS256", digest[:]))
	ct := must[vault.KeyOperationResult](t)(e.svc.Encrypt(e.ctx, admin, "default", "rsa", "", "RSA-OAEP-256", vault.NewStringValue("pt"), vault.SymmetricParams{}))
	return []rbacOp{
		{"getSecret", func(t *testing.T, e *env, c vault.Caller, n string) error {
			setSecret(t, e, n, "v")
			_, err := e.svc.GetSecret(e.ctx, c, "default", n, "")
			return err
		}},
		{"listSecrets", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.ListSecrets(e.ctx, c, "default", vault.PageRequest{})
			return err
		}},
		{"setSecret", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.SetSecret(e.ctx, c, "default", n, vault.SecretInput{Value: vault.NewStringValue("v")})
			return err
		}},
		{"updateSecret", func(t *testing.T, e *env, c vault.Caller, n string) error {
			setSecret(t, e, n, "v")
			_, err := e.svc.UpdateSecret(e.ctx, c, "default", n, "", vault.Update{Tags: map[string]string{}})
			return err
		}},
		{"deleteSecret", func(t *testing.T, e *env, c vault.Caller, n string) error {
			setSecret(t, e, n, "v")
			_, err := e.svc.DeleteSecret(e.ctx, c, "default", n)
			return err
		}},
		{"recoverSecret", func(t *testing.T, e *env, c vault.Caller, n string) error {
			setSecret(t, e, n, "v")
			must[vault.Secret](t)(e.svc.DeleteSecret(e.ctx, admin, "default", n))
			_, err := e.svc.RecoverSecret(e.ctx, c, "default", n)
			return err
		}},
		{"purgeSecret", func(t *testing.T, e *env, c vault.Caller, n string) error {
			setSecret(t, e, n, "v")
			must[vault.Secret](t)(e.svc.DeleteSecret(e.ctx, admin, "default", n))
			return e.svc.PurgeSecret(e.ctx, c, "default", n)
		}},
		{"getCertificate", func(t *testing.T, e *env, c vault.Caller, n string) error {
			mkCert(t, n)
			_, err := e.svc.GetCertificate(e.ctx, c, "default", n, "")
			return err
		}},
		{"listCertificates", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.ListCertificates(e.ctx, c, "default", vault.PageRequest{})
			return err
		}},
		{"createCertificate", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.CreateCertificate(e.ctx, c, "default", n, vault.CertificateCreate{Policy: &policy})
			return err
		}},
		{"importCertificate", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.ImportCertificate(e.ctx, c, "default", n, vault.CertificateImport{Data: certPEM})
			return err
		}},
		{"updateCertificate", func(t *testing.T, e *env, c vault.Caller, n string) error {
			mkCert(t, n)
			_, err := e.svc.UpdateCertificate(e.ctx, c, "default", n, "", vault.Update{Enabled: ptr(true)})
			return err
		}},
		{"deleteCertificate", func(t *testing.T, e *env, c vault.Caller, n string) error {
			mkCert(t, n)
			_, err := e.svc.DeleteCertificate(e.ctx, c, "default", n)
			return err
		}},
		{"recoverCertificate", func(t *testing.T, e *env, c vault.Caller, n string) error {
			mkCert(t, n)
			must[vault.Certificate](t)(e.svc.DeleteCertificate(e.ctx, admin, "default", n))
			_, err := e.svc.RecoverCertificate(e.ctx, c, "default", n)
			return err
		}},
		{"purgeCertificate", func(t *testing.T, e *env, c vault.Caller, n string) error {
			mkCert(t, n)
			must[vault.Certificate](t)(e.svc.DeleteCertificate(e.ctx, admin, "default", n))
			return e.svc.PurgeCertificate(e.ctx, c, "default", n)
		}},
		{"downloadPFX", func(t *testing.T, e *env, c vault.Caller, n string) error {
			mkCert(t, n)
			_, err := e.svc.DownloadCertificate(e.ctx, c, "default", n, "", vault.FormatPFX, vault.Value{})
			return err
		}},
		{"getKey", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.GetKey(e.ctx, c, "default", "rsa", "")
			return err
		}},
		{"listKeys", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.ListKeys(e.ctx, c, "default", vault.PageRequest{})
			return err
		}},
		{"createKey", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.CreateKey(e.ctx, c, "default", n, vault.KeyCreate{KeyType: "EC"})
			return err
		}},
		{"importKey", func(t *testing.T, e *env, c vault.Caller, n string) error {
			k, _ := pki.EncodePrivateKeyPEM(key)
			_, err := e.svc.ImportKey(e.ctx, c, "default", n, vault.KeyImport{PEM: k})
			return err
		}},
		{"updateKey", func(t *testing.T, e *env, c vault.Caller, n string) error {
			mkKey(t, n)
			_, err := e.svc.UpdateKey(e.ctx, c, "default", n, "", vault.Update{Enabled: ptr(true)})
			return err
		}},
		{"deleteKey", func(t *testing.T, e *env, c vault.Caller, n string) error {
			mkKey(t, n)
			_, err := e.svc.DeleteKey(e.ctx, c, "default", n)
			return err
		}},
		{"recoverKey", func(t *testing.T, e *env, c vault.Caller, n string) error {
			mkKey(t, n)
			must[vault.Key](t)(e.svc.DeleteKey(e.ctx, admin, "default", n))
			_, err := e.svc.RecoverKey(e.ctx, c, "default", n)
			return err
		}},
		{"purgeKey", func(t *testing.T, e *env, c vault.Caller, n string) error {
			mkKey(t, n)
			must[vault.Key](t)(e.svc.DeleteKey(e.ctx, admin, "default", n))
			return e.svc.PurgeKey(e.ctx, c, "default", n)
		}},
		{"sign", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.Sign(e.ctx, c, "default", "rsa", "", "RS256", digest[:])
			return err
		}},
		{"verify", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.Verify(e.ctx, c, "default", "rsa", "", "RS256", digest[:], sig.Result.Bytes())
			return err
		}},
		{"encrypt", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.Encrypt(e.ctx, c, "default", "rsa", "", "RSA-OAEP", vault.NewStringValue("x"), vault.SymmetricParams{})
			return err
		}},
		{"decrypt", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.Decrypt(e.ctx, c, "default", "rsa", "", "RSA-OAEP-256", ct.Result.Bytes(), vault.SymmetricParams{})
			return err
		}},
		{"wrapKey", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.WrapKey(e.ctx, c, "default", "rsa", "", "RSA-OAEP", vault.NewStringValue("k"), vault.SymmetricParams{})
			return err
		}},
		{"unwrapKey", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.UnwrapKey(e.ctx, c, "default", "rsa", "", "RSA-OAEP-256", ct.Result.Bytes(), vault.SymmetricParams{})
			return err
		}},
		{"backupSecret", func(t *testing.T, e *env, c vault.Caller, n string) error {
			setSecret(t, e, n, "v")
			_, err := e.svc.BackupSecret(e.ctx, c, "default", n)
			return err
		}},
		{"restoreSecret", func(t *testing.T, e *env, c vault.Caller, n string) error {
			setSecret(t, e, n, "v")
			_, err := e.svc.RestoreSecret(e.ctx, c, "default", backupPurged(t, e, vault.Secrets, n))
			return err
		}},
		{"backupCertificate", func(t *testing.T, e *env, c vault.Caller, n string) error {
			mkCert(t, n)
			_, err := e.svc.BackupCertificate(e.ctx, c, "default", n)
			return err
		}},
		{"restoreCertificate", func(t *testing.T, e *env, c vault.Caller, n string) error {
			mkCert(t, n)
			_, err := e.svc.RestoreCertificate(e.ctx, c, "default", backupPurged(t, e, vault.Certificates, n))
			return err
		}},
		{"backupKey", func(t *testing.T, e *env, c vault.Caller, n string) error {
			mkKey(t, n)
			_, err := e.svc.BackupKey(e.ctx, c, "default", n)
			return err
		}},
		{"rng", func(t *testing.T, e *env, c vault.Caller, n string) error {
			_, err := e.svc.RandomBytes(e.ctx, c, "default", 16)
			return err
		}},
		{"restoreKey", func(t *testing.T, e *env, c vault.Caller, n string) error {
			mkKey(t, n)
			_, err := e.svc.RestoreKey(e.ctx, c, "default", backupPurged(t, e, vault.Keys, n))
			return err
		}},
	}
}

func TestRBAC_Matrix(t *testing.T) {
	e := newEnv(t)
	must[vault.Key](t)(e.svc.CreateKey(e.ctx, admin, "default", "rsa", vault.KeyCreate{KeyType: "RSA"}))
	ops := rbacOps(t, e)
	roles := []string{vault.RoleAdministrator}
	for r := range expected {
		roles = append(roles, r)
	}
	slices.Sort(roles)
	i := 0
	for _, role := range roles {
		caller := vault.Caller{Principal: guard.Principal{AppID: "app-" + strings.ReplaceAll(role, " ", "-")}, RequestID: "r"}
		if role != "(no role)" {
			must[vault.RoleAssignment](t)(e.svc.AssignRole(e.ctx, admin, vault.RoleAssignment{Vault: "default", PrincipalID: caller.AppID, Role: role}))
		}
		for _, op := range ops {
			t.Run(role+"/"+op.name, func(t *testing.T) {
				i++
				err := op.run(t, e, caller, fmt.Sprintf("obj-%d", i))
				allowed := role == vault.RoleAdministrator || slices.Contains(expected[role], op.name)
				if allowed {
					if err != nil {
						t.Fatalf("denied: %v", err)
					}
					return
				}
				ve := wantErr(t, err, vault.KindForbidden, "lacks permission", caller.AppID, "assign the role")
				if ve.InnerCode != "ForbiddenByRbac" {
					t.Fatalf("inner code %q", ve.InnerCode)
				}
			})
		}
	}
	recs := must[[]vault.AuditRecord](t)(e.svc.AuditLog(e.ctx, admin, "default", 0))
	denied := 0
	for _, r := range recs {
		if r.Outcome == vault.OutcomeDenied {
			denied++
		}
	}
	if denied == 0 {
		t.Fatal("no denied outcome audited")
	}
}

func TestRBAC_DenialNamesOperationAndLeastRole(t *testing.T) {
	e := newEnv(t)
	setSecret(t, e, "s", "v")
	c := vault.Caller{Principal: guard.Principal{AppID: "11111111-2222-3333-4444-555555555555"}}
	for _, tc := range []struct {
		op   func() error
		perm string
		role string
	}{
		{func() error { _, err := e.svc.GetSecret(e.ctx, c, "default", "s", ""); return err }, "secrets/getSecret", vault.RoleSecretsUser},
		{func() error { _, err := e.svc.DeleteSecret(e.ctx, c, "default", "s"); return err }, "secrets/delete", vault.RoleSecretsOfficer},
		{func() error { _, err := e.svc.ListCertificates(e.ctx, c, "default", vault.PageRequest{}); return err }, "certificates/read", vault.RoleCertificateUser},
		{func() error { _, err := e.svc.GetKey(e.ctx, c, "default", "k", ""); return err }, "keys/read", vault.RoleCryptoServiceEncryptionUser},
		{func() error { _, err := e.svc.Sign(e.ctx, c, "default", "k", "", "ES256", nil); return err }, "keys/sign", vault.RoleCryptoUser},
		{func() error { _, err := e.svc.ListRoleAssignments(e.ctx, c, "default"); return err }, "roleAssignments/read", vault.RoleAdministrator},
		{func() error { _, err := e.svc.RandomBytes(e.ctx, c, "default", 1); return err }, "rng", vault.RoleCryptoUser},
		{func() error { _, err := e.svc.BackupSecret(e.ctx, c, "default", "s"); return err }, "secrets/backup", vault.RoleSecretsOfficer},
		{func() error { _, err := e.svc.BackupKey(e.ctx, c, "default", "k"); return err }, "keys/backup", vault.RoleCryptoUser},
	} {
		t.Run(tc.perm, func(t *testing.T) {
			want := fmt.Sprintf("caller %s lacks permission %s on vault default; assign the role %q (portcullis vault role assign --app %s --role %q --vault default)", c.AppID, tc.perm, tc.role, c.AppID, tc.role)
			wantErr(t, tc.op(), vault.KindForbidden, want)
		})
	}
}

func TestRBAC_ScopesTokenRolesAndAliases(t *testing.T) {
	e := newEnv(t)
	setSecret(t, e, "a", "va")
	setSecret(t, e, "b", "vb")
	policy := vault.CertificatePolicy{X509Properties: &vault.X509Properties{Subject: "CN=c"}, KeyProperties: &vault.KeyProperties{KeyType: "EC"}}
	must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", "c", vault.CertificateCreate{Policy: &policy}))
	must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", "d", vault.CertificateCreate{Policy: &policy}))

	scoped := vault.Caller{Principal: guard.Principal{AppID: "scoped"}}
	must[vault.RoleAssignment](t)(e.svc.AssignRole(e.ctx, admin, vault.RoleAssignment{Vault: "default", Scope: "secrets/a", PrincipalID: "scoped", Role: "key vault secrets user"}))
	must[vault.Secret](t)(e.svc.GetSecret(e.ctx, scoped, "default", "a", ""))
	_, err := e.svc.GetSecret(e.ctx, scoped, "default", "b", "")
	wantErr(t, err, vault.KindForbidden)
	_, err = e.svc.ListSecrets(e.ctx, scoped, "default", vault.PageRequest{})
	wantErr(t, err, vault.KindForbidden)

	certUser := vault.Caller{Principal: guard.Principal{ObjectID: "oid-1"}}
	ra := must[vault.RoleAssignment](t)(e.svc.AssignRole(e.ctx, admin, vault.RoleAssignment{Vault: "default", Scope: "certificates/c", PrincipalID: "oid-1", Role: "Key Vault Certificates User"}))
	if ra.Role != vault.RoleCertificateUser {
		t.Fatalf("alias stored as %q", ra.Role)
	}
	must[vault.Certificate](t)(e.svc.GetCertificate(e.ctx, certUser, "default", "c", ""))
	must[vault.Secret](t)(e.svc.GetSecret(e.ctx, certUser, "default", "c", ""))
	must[vault.Key](t)(e.svc.GetKey(e.ctx, certUser, "default", "c", ""))
	_, err = e.svc.GetSecret(e.ctx, certUser, "default", "d", "")
	wantErr(t, err, vault.KindForbidden)
	_, err = e.svc.GetSecret(e.ctx, certUser, "default", "a", "")
	wantErr(t, err, vault.KindForbidden)

	token := vault.Caller{Principal: guard.Principal{AppID: "tok", Roles: []string{"Key Vault Secrets User", "Something.Else"}}}
	must[vault.Secret](t)(e.svc.GetSecret(e.ctx, token, "default", "b", ""))
	_, err = e.svc.SetSecret(e.ctx, token, "default", "b", vault.SecretInput{})
	wantErr(t, err, vault.KindForbidden)

	_, err = e.svc.AssignRole(e.ctx, scoped, vault.RoleAssignment{Vault: "default", PrincipalID: "scoped", Role: vault.RoleAdministrator})
	wantErr(t, err, vault.KindForbidden, "roleAssignments/write")
	_, err = e.svc.AssignRole(e.ctx, admin, vault.RoleAssignment{Vault: "default", PrincipalID: "x", Role: "Owner"})
	wantErr(t, err, vault.KindBadRequest, "unknown role", vault.RoleSecretsUser)
	_, err = e.svc.AssignRole(e.ctx, admin, vault.RoleAssignment{Vault: "default", Scope: "tables/x", PrincipalID: "x", Role: vault.RoleReader})
	wantErr(t, err, vault.KindBadRequest, "scope")
	_, err = e.svc.AssignRole(e.ctx, admin, vault.RoleAssignment{Vault: "default", Scope: "secrets/a", PrincipalID: "scoped", Role: vault.RoleSecretsUser})
	wantErr(t, err, vault.KindConflict)

	adminRole := vault.Caller{Principal: guard.Principal{AppID: "boss"}}
	must[vault.RoleAssignment](t)(e.svc.AssignRole(e.ctx, admin, vault.RoleAssignment{Vault: "default", PrincipalID: "boss", Role: vault.RoleAdministrator}))
	list := must[[]vault.RoleAssignment](t)(e.svc.ListRoleAssignments(e.ctx, adminRole, "default"))
	if len(list) != 3 {
		t.Fatalf("assignments = %+v", list)
	}
	if err := e.svc.RemoveRoleAssignment(e.ctx, adminRole, "default", list[0].ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.GetSecret(e.ctx, scoped, "default", "a", "")
	wantErr(t, err, vault.KindForbidden)
	wantErr(t, e.svc.RemoveRoleAssignment(e.ctx, adminRole, "default", list[0].ID), vault.KindNotFound)
	if vs := must[[]vault.Vault](t)(e.svc.ListVaults(e.ctx, scoped)); len(vs) != 0 {
		t.Fatalf("vaults visible without a vault-level role: %+v", vs)
	}
	if vs := must[[]vault.Vault](t)(e.svc.ListVaults(e.ctx, adminRole)); len(vs) != 1 {
		t.Fatalf("vaults = %+v", vs)
	}
}
