package vault

import (
	"slices"
	"strings"
)

// Permission is one data-plane action, named after Key Vault's RBAC data
// actions without the "Microsoft.KeyVault/vaults/" prefix and "/action"
// suffix (e.g. "secrets/getSecret").
type Permission string

// The permissions every Service method checks.
const (
	PermSecretsReadMetadata Permission = "secrets/readMetadata"
	PermSecretsGet          Permission = "secrets/getSecret"
	PermSecretsSet          Permission = "secrets/setSecret"
	PermSecretsUpdate       Permission = "secrets/update"
	PermSecretsDelete       Permission = "secrets/delete"
	PermSecretsRecover      Permission = "secrets/recover"
	PermSecretsPurge        Permission = "secrets/purge"
	PermSecretsBackup       Permission = "secrets/backup"
	PermSecretsRestore      Permission = "secrets/restore"

	PermCertificatesRead    Permission = "certificates/read"
	PermCertificatesCreate  Permission = "certificates/create"
	PermCertificatesImport  Permission = "certificates/import"
	PermCertificatesUpdate  Permission = "certificates/update"
	PermCertificatesDelete  Permission = "certificates/delete"
	PermCertificatesRecover Permission = "certificates/recover"
	PermCertificatesPurge   Permission = "certificates/purge"
	PermCertificatesBackup  Permission = "certificates/backup"
	PermCertificatesRestore Permission = "certificates/restore"

	PermKeysRead    Permission = "keys/read"
	PermKeysCreate  Permission = "keys/create"
	PermKeysImport  Permission = "keys/import"
	PermKeysUpdate  Permission = "keys/update"
	PermKeysDelete  Permission = "keys/delete"
	PermKeysRecover Permission = "keys/recover"
	PermKeysPurge   Permission = "keys/purge"
	PermKeysBackup  Permission = "keys/backup"
	PermKeysRestore Permission = "keys/restore"
	PermKeysSign    Permission = "keys/sign"
	PermKeysVerify  Permission = "keys/verify"
	PermKeysEncrypt Permission = "keys/encrypt"
	PermKeysDecrypt Permission = "keys/decrypt"
	PermKeysWrap    Permission = "keys/wrap"
	PermKeysUnwrap  Permission = "keys/unwrap"
	// PermKeysRotate allows RotateKey (and is what scheduled rotations are audited with).
	PermKeysRotate Permission = "keys/rotate"
	// PermKeysSetRotationPolicy allows UpdateKeyRotationPolicy; reading one needs keys/read.
	PermKeysSetRotationPolicy Permission = "keys/setrotationpolicy"

	// PermRNG allows drawing random bytes (GET /rng): Managed HSM's
	// "Microsoft.KeyVault/managedHsm/rng/action", granted with the crypto
	// roles.
	PermRNG Permission = "rng"

	// Certificate issuers and contacts: Key Vault's data actions
	// vaults/certificatecas/* and vaults/certificatecontacts/*.
	PermIssuersRead   Permission = "certificatecas/read"
	PermIssuersWrite  Permission = "certificatecas/write"
	PermIssuersDelete Permission = "certificatecas/delete"
	PermContactsRead  Permission = "certificatecontacts/read"
	PermContactsWrite Permission = "certificatecontacts/write"

	// PermVaultRead allows reading the vault's own settings; every role has it.
	PermVaultRead Permission = "vault/read"
	// PermRoleAssignmentsRead and PermRoleAssignmentsWrite govern role assignments.
	PermRoleAssignmentsRead  Permission = "roleAssignments/read"
	PermRoleAssignmentsWrite Permission = "roleAssignments/write"
)

// AllPermissions lists every permission, grouped by object type.
var AllPermissions = []Permission{
	PermSecretsReadMetadata, PermSecretsGet, PermSecretsSet, PermSecretsUpdate, PermSecretsDelete, PermSecretsRecover, PermSecretsPurge,
	PermSecretsBackup, PermSecretsRestore,
	PermCertificatesRead, PermCertificatesCreate, PermCertificatesImport, PermCertificatesUpdate, PermCertificatesDelete, PermCertificatesRecover, PermCertificatesPurge,
	PermCertificatesBackup, PermCertificatesRestore,
	PermKeysRead, PermKeysCreate, PermKeysImport, PermKeysUpdate, PermKeysDelete, PermKeysRecover, PermKeysPurge,
	PermKeysBackup, PermKeysRestore,
	PermKeysSign, PermKeysVerify, PermKeysEncrypt, PermKeysDecrypt, PermKeysWrap, PermKeysUnwrap, PermRNG,
	PermVaultRead, PermRoleAssignmentsRead, PermRoleAssignmentsWrite,
	PermKeysRotate, PermKeysSetRotationPolicy,
	PermIssuersRead, PermIssuersWrite, PermIssuersDelete, PermContactsRead, PermContactsWrite,
}

// certificateSettings are the issuer and contact permissions, which the
// Certificates Officer holds with certificates/*.
var certificateSettings = []Permission{PermIssuersRead, PermIssuersWrite, PermIssuersDelete, PermContactsRead, PermContactsWrite}

// The built-in role names (Azure's).
const (
	RoleAdministrator               = "Key Vault Administrator"
	RoleSecretsOfficer              = "Key Vault Secrets Officer"
	RoleSecretsUser                 = "Key Vault Secrets User"
	RoleCertificatesOfficer         = "Key Vault Certificates Officer"
	RoleCertificateUser             = "Key Vault Certificate User"
	RoleCryptoOfficer               = "Key Vault Crypto Officer"
	RoleCryptoUser                  = "Key Vault Crypto User"
	RoleCryptoServiceEncryptionUser = "Key Vault Crypto Service Encryption User"
	RoleReader                      = "Key Vault Reader"
)

// RoleDefinition is a built-in role and the permissions it grants.
type RoleDefinition struct {
	Name        string
	Description string
	Permissions []Permission
	// family is the object type whose roles are suggested first for its
	// permissions ("" for roles spanning all types).
	family ObjectType
}

// Allows reports whether the role grants p.
func (r RoleDefinition) Allows(p Permission) bool { return slices.Contains(r.Permissions, p) }

func prefixed(prefix string) []Permission {
	var out []Permission
	for _, p := range AllPermissions {
		if strings.HasPrefix(string(p), prefix) {
			out = append(out, p)
		}
	}
	return out
}

// roles is Key Vault's data-plane permission matrix
// (https://learn.microsoft.com/azure/key-vault/general/rbac-guide, built-in
// roles): the Officers' wildcards (secrets/*, certificates/*, keys/*)
// include backup and restore; of the User roles only the Crypto User has
// keys/backup; rng is Managed HSM's, granted here as Managed HSM grants it
// (Crypto User and Crypto Officer). Role assignments themselves are a control-plane matter in Azure;
// here the Administrator manages them.
var roles = []RoleDefinition{
	{Name: RoleAdministrator, Description: "All data-plane operations on secrets, certificates and keys, and managing role assignments.", Permissions: AllPermissions},
	{Name: RoleSecretsOfficer, family: Secrets, Description: "Every action on secrets.", Permissions: append(prefixed("secrets/"), PermVaultRead)},
	{Name: RoleSecretsUser, family: Secrets, Description: "Read secret contents, including listing.", Permissions: []Permission{PermSecretsReadMetadata, PermSecretsGet, PermVaultRead}},
	{Name: RoleCertificatesOfficer, family: Certificates, Description: "Every action on certificates except reading their secret and key portions.", Permissions: append(append(prefixed("certificates/"), certificateSettings...), PermVaultRead)},
	{Name: RoleCertificateUser, family: Certificates, Description: "Read entire certificate contents, including the secret and key portions.", Permissions: []Permission{PermCertificatesRead, PermSecretsReadMetadata, PermSecretsGet, PermKeysRead, PermVaultRead}},
	{Name: RoleCryptoOfficer, family: Keys, Description: "Every action on keys, and random bytes.", Permissions: append(prefixed("keys/"), PermRNG, PermVaultRead)},
	{Name: RoleCryptoUser, family: Keys, Description: "Read and back up keys, perform cryptographic operations with them, and draw random bytes.", Permissions: []Permission{PermKeysRead, PermKeysUpdate, PermKeysBackup, PermKeysSign, PermKeysVerify, PermKeysEncrypt, PermKeysDecrypt, PermKeysWrap, PermKeysUnwrap, PermRNG, PermVaultRead}},
	{Name: RoleCryptoServiceEncryptionUser, family: Keys, Description: "Read keys and wrap/unwrap with them.", Permissions: []Permission{PermKeysRead, PermKeysWrap, PermKeysUnwrap, PermVaultRead}},
	{Name: RoleReader, Description: "Read metadata of secrets, certificates and keys; not secret values.", Permissions: []Permission{PermSecretsReadMetadata, PermCertificatesRead, PermKeysRead, PermVaultRead, PermIssuersRead, PermContactsRead}},
}

// roleAliases maps other accepted spellings (lower case) to role names.
var roleAliases = map[string]string{
	"key vault certificates user": RoleCertificateUser,
}

// Roles returns the built-in role definitions.
func Roles() []RoleDefinition { return slices.Clone(roles) }

// LookupRole returns the built-in role named name (case-insensitive; "Key
// Vault Certificates User" is accepted for "Key Vault Certificate User").
func LookupRole(name string) (RoleDefinition, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	if canon, ok := roleAliases[n]; ok {
		n = strings.ToLower(canon)
	}
	for _, r := range roles {
		if strings.ToLower(r.Name) == n {
			return r, true
		}
	}
	return RoleDefinition{}, false
}

// suggestRole returns the least role that grants p: a role of p's object
// type with the fewest permissions, else the Reader, else the Administrator.
func suggestRole(p Permission) string {
	family := ObjectType(strings.SplitN(string(p), "/", 2)[0])
	if p == PermRNG {
		family = Keys // a crypto role, as Managed HSM's Crypto User
	}
	if slices.Contains(certificateSettings, p) {
		family = Certificates
	}
	best := ""
	bestN := 0
	for _, r := range roles {
		if r.family == family && r.Allows(p) && (best == "" || len(r.Permissions) < bestN) {
			best, bestN = r.Name, len(r.Permissions)
		}
	}
	if best != "" {
		return best
	}
	for _, name := range []string{RoleReader, RoleAdministrator} {
		if r, _ := LookupRole(name); r.Allows(p) {
			return name
		}
	}
	return RoleAdministrator
}

// scopeCovers reports whether an assignment scope covers target ("" for a
// vault-level operation, else "TYPE/NAME"). A certificate scope also covers
// the secret and key that back the certificate (managed).
func scopeCovers(scope, target string, managed bool) bool {
	if scope == "" {
		return true
	}
	if target == "" {
		return false
	}
	if strings.EqualFold(scope, target) {
		return true
	}
	if !managed {
		return false
	}
	typ, name, _ := strings.Cut(target, "/")
	return (typ == string(Secrets) || typ == string(Keys)) && strings.EqualFold(scope, string(Certificates)+"/"+name)
}

// ParseScope validates an assignment scope: "" (whole vault) or
// "secrets/NAME", "certificates/NAME", "keys/NAME".
func ParseScope(scope string) (string, error) {
	if scope == "" || scope == "/" {
		return "", nil
	}
	typ, name, ok := strings.Cut(strings.Trim(scope, "/"), "/")
	if !ok || !ObjectType(typ).Valid() {
		return "", badRequest("invalid role assignment scope %q: use \"\" for the whole vault, or secrets/NAME, certificates/NAME or keys/NAME", scope)
	}
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return typ + "/" + name, nil
}
