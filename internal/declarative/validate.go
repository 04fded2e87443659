package declarative

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultclient"
)

// importedKey is a key read from a PEM file, in the forms apply needs.
type importedKey struct {
	jwk vaultclient.JSONWebKey // with private members: sent, never printed
	kty string                 // RSA or EC
	pub string                 // the public part (n or x|y) for comparison
}

// validator checks one file's document and reads what it references.
type validator struct {
	file string
	dir  string // the file's directory: relative references start here
	env  Env
	errs []error
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// resolve turns a reference relative to the configuration file into a path.
func (v *validator) resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(v.dir, p)
}

func (v *validator) readFile(path, field, ref string) ([]byte, bool) {
	data, err := readLimited(v.resolve(ref))
	if err != nil {
		v.fail(path+"."+field, "cannot read %s: %v; give a readable file (relative paths start at the directory of %s)", ref, cleanPathError(err), v.file)
		return nil, false
	}
	return data, true
}

func cleanPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (v *validator) exists(ref string) bool {
	_, err := os.Stat(v.resolve(ref))
	return err == nil
}

func (v *validator) envVar(path, field, name string) (string, bool) {
	val, ok := v.env(name)
	if !ok {
		v.fail(path+"."+field, "environment variable %s is not set; set it before running apply", name)
		return "", false
	}
	return val, true
}

func (v *validator) document(d *Document) {
	for i := range d.Tenants {
		v.tenant(fmt.Sprintf("tenants[%d]", i), &d.Tenants[i])
	}
	for i := range d.Vaults {
		v.vault(fmt.Sprintf("vaults[%d]", i), &d.Vaults[i])
	}
}

func (v *validator) tenant(path string, t *Tenant) {
	t.at = v.file + ": " + path
	if err := directory.ValidateTenantName(t.Name); err != nil {
		v.fail(path+".name", "%v", err)
	}
	for i := range t.Applications {
		v.application(fmt.Sprintf("%s.applications[%d]", path, i), &t.Applications[i])
	}
	for i, g := range t.Grants {
		p := fmt.Sprintf("%s.grants[%d]", path, i)
		if strings.TrimSpace(g.Client) == "" {
			v.fail(p+".client", "required: the display name of the client application")
		}
		if strings.TrimSpace(g.Resource) == "" {
			v.fail(p+".resource", "required: the display name of the application that exposes the role")
		}
		if strings.TrimSpace(g.Role) == "" {
			v.fail(p+".role", "required: the value of the resource's app role, e.g. Orders.Read")
		}
	}
	// The server's own checks and defaults, so that an invalid API or
	// connector stops apply before anything changes and a stored one
	// compares equal to its document.
	for i := range t.APIs {
		n, err := directory.NormalizeAPI(t.APIs[i].API)
		if err != nil {
			v.fail(fmt.Sprintf("%s.apis[%d]", path, i), "%v", err)
			continue
		}
		t.APIs[i].API = n
	}
	for i := range t.Connectors {
		n, err := directory.NormalizeConnector(t.Connectors[i].Connector)
		if err != nil {
			v.fail(fmt.Sprintf("%s.connectors[%d]", path, i), "%v", err)
			continue
		}
		t.Connectors[i].Connector = n
	}
}

func (v *validator) application(path string, a *Application) {
	a.at = v.file + ": " + path
	if err := directory.ValidateDisplayName(a.DisplayName); err != nil {
		v.fail(path+".displayName", "%v", err)
	} else if a.DisplayName != strings.TrimSpace(a.DisplayName) {
		v.fail(path+".displayName", "%q has leading or trailing spaces; remove them", a.DisplayName)
	}
	if a.IdentifierURIs != nil {
		if err := directory.ValidateIdentifierURIs(a.IdentifierURIs); err != nil {
			v.fail(path+".identifierUris", "%v", err)
		}
	}
	if a.AccessTokenLifetimeSeconds != 0 {
		if err := directory.ValidateAccessTokenLifetime(int64(a.AccessTokenLifetimeSeconds)); err != nil {
			v.fail(path+".accessTokenLifetimeSeconds", "%v", err)
		}
	}
	roles := map[string]bool{}
	for i, r := range a.AppRoles {
		p := fmt.Sprintf("%s.appRoles[%d]", path, i)
		if err := directory.ValidateRoleValue(r.Value); err != nil {
			v.fail(p+".value", "%v", err)
		}
		if roles[r.Value] {
			v.fail(p+".value", "app role %q is declared twice in this application; declare it once", r.Value)
		}
		roles[r.Value] = true
	}
	thumbs := map[string]bool{}
	for i := range a.KeyCredentials {
		p := fmt.Sprintf("%s.keyCredentials[%d]", path, i)
		k := &a.KeyCredentials[i]
		if k.CertificateFile == "" {
			v.fail(p+".certificateFile", "required: the certificate file (DER, PEM or PFX; only its public part is sent)")
			continue
		}
		if k.Thumbprint != "" && !v.exists(k.CertificateFile) {
			// Needed only to register the certificate: the plan asks for
			// it then.
			k.thumbprint = strings.ToUpper(strings.ReplaceAll(k.Thumbprint, ":", ""))
			k.missing = fmt.Sprintf("%s: %s.certificateFile: %s does not exist; put the certificate there to register it", v.file, p, k.CertificateFile)
			continue
		}
		data, ok := v.readFile(p, "certificateFile", k.CertificateFile)
		if !ok {
			continue
		}
		if k.PasswordFromEnv != "" {
			pw, ok := v.envVar(p, "passwordFromEnv", k.PasswordFromEnv)
			if !ok {
				continue
			}
			k.pfxPassword = secretString{pw}
		}
		cert, err := pki.ParseCertificateFile(data, k.pfxPassword.v)
		if err != nil {
			v.fail(p+".certificateFile", "%s: %v", k.CertificateFile, err)
			continue
		}
		k.data = data
		k.thumbprint = pki.ThumbprintSHA1Hex(cert)
		if k.Thumbprint != "" && !strings.EqualFold(k.Thumbprint, k.thumbprint) {
			v.fail(p+".thumbprint", "is %s but %s holds the certificate %s; give the right file or remove thumbprint", k.Thumbprint, k.CertificateFile, k.thumbprint)
		}
		if thumbs[k.thumbprint] {
			v.fail(p, "certificate %s is declared twice in this application; declare it once", k.thumbprint)
		}
		thumbs[k.thumbprint] = true
	}
	descs := map[string]bool{}
	for i, s := range a.PasswordCredentials {
		p := fmt.Sprintf("%s.passwordCredentials[%d]", path, i)
		if s.SaveTo == "" {
			v.fail(p+".saveTo", "required: the file apply writes a new client secret to (the server shows a secret once; it is never in the configuration)")
		}
		if err := directory.ValidateSecretLifetime(s.ExpiresInSeconds); err != nil {
			v.fail(p+".expiresInSeconds", "%v", err)
		}
		if descs[s.Description] {
			v.fail(p+".description", "client secrets are matched by description, and %q is declared twice in this application; give each a different description", s.Description)
		}
		descs[s.Description] = true
		a.PasswordCredentials[i].SaveTo = v.resolve(s.SaveTo)
	}
	fics := map[string]bool{}
	for i := range a.FederatedIdentityCredentials {
		p := fmt.Sprintf("%s.federatedIdentityCredentials[%d]", path, i)
		f := &a.FederatedIdentityCredentials[i]
		n, err := directory.NormalizeFederatedIdentityCredential(f.directory())
		if err != nil {
			v.fail(p, "%v", err)
			continue
		}
		f.Audiences, f.Description = n.Audiences, n.Description
		if k := strings.ToLower(f.Name); fics[k] {
			v.fail(p+".name", "federated identity credentials are matched by name, and %q is declared twice in this application; give each a different name", f.Name)
		} else {
			fics[k] = true
		}
	}
}

func (v *validator) vault(path string, vt *Vault) {
	vt.at = v.file + ": " + path
	if err := vault.ValidateVaultName(vt.Name); err != nil {
		v.fail(path+".name", "%v", err)
	}
	if d := vt.SoftDeleteRetentionDays; d != 0 && (d < vault.MinRetentionDays || d > vault.MaxRetentionDays) {
		v.fail(path+".softDeleteRetentionDays", "is %d; give %d to %d, or leave it out for %d", d, vault.MinRetentionDays, vault.MaxRetentionDays, vault.DefaultRetentionDays)
	}
	for i := range vt.RoleAssignments {
		p := fmt.Sprintf("%s.roleAssignments[%d]", path, i)
		ra := &vt.RoleAssignments[i]
		if strings.TrimSpace(ra.Principal) == "" {
			v.fail(p+".principal", "required: the display name of the application that receives the role")
		}
		if ra.Tenant != "" {
			if err := directory.ValidateTenantName(ra.Tenant); err != nil {
				v.fail(p+".tenant", "%v", err)
			}
		}
		role, ok := canonicalRole(ra.Role)
		if !ok {
			v.fail(p+".role", "%q is not a vault role; use one of %s", ra.Role, strings.Join(roleNames(), ", "))
		}
		ra.Role = role
		if ra.Scope != "" {
			kind, name, ok := strings.Cut(strings.Trim(ra.Scope, "/"), "/")
			if !ok || (kind != "secrets" && kind != "certificates" && kind != "keys") || vault.ValidateName(name) != nil {
				v.fail(p+".scope", "%q is not an object scope; give secrets/NAME, certificates/NAME or keys/NAME, or leave it out for the whole vault", ra.Scope)
			}
			ra.Scope = strings.Trim(ra.Scope, "/")
		}
	}
	for i := range vt.Secrets {
		p := fmt.Sprintf("%s.secrets[%d]", path, i)
		s := &vt.Secrets[i]
		if vault.ValidateName(s.Name) != nil {
			v.fail(p+".name", "%q is not a vault object name: 1 to 127 letters, digits and dashes", s.Name)
		}
		switch src := s.Value; {
		case src.FromEnv != "" && src.FromFile != "":
			v.fail(p+".value", "give one of fromEnv and fromFile, not both")
		case src.FromEnv != "":
			if val, ok := v.envVar(p, "value.fromEnv", src.FromEnv); ok {
				s.value = secretString{val}
			}
		case src.FromFile != "":
			if data, ok := v.readFile(p, "value.fromFile", src.FromFile); ok {
				s.value = secretString{string(data)}
			}
		default:
			v.fail(p+".value", "required: {fromEnv: VARIABLE} or {fromFile: PATH}; a secret value is never written in the configuration")
		}
		if len(s.value.v) > 25600 {
			v.fail(p+".value", "the value is %d bytes; a vault secret holds at most 25600", len(s.value.v))
		}
	}
	for i := range vt.Certificates {
		p := fmt.Sprintf("%s.certificates[%d]", path, i)
		c := &vt.Certificates[i]
		if vault.ValidateName(c.Name) != nil {
			v.fail(p+".name", "%q is not a vault object name: 1 to 127 letters, digits and dashes", c.Name)
		}
		if c.FromFile == "" {
			v.fail(p+".fromFile", "required: a PFX, or a PEM file with the certificate and its private key")
			continue
		}
		if c.Thumbprint != "" && !v.exists(c.FromFile) {
			c.x5t = c.Thumbprint
			c.missing = fmt.Sprintf("%s: %s.fromFile: %s does not exist; put the certificate with its private key there (e.g. 'portcullis certificate download %s --vault %s --format pem --out FILE')", v.file, p, c.FromFile, c.Name, vt.Name)
			continue
		}
		data, ok := v.readFile(p, "fromFile", c.FromFile)
		if !ok {
			continue
		}
		if c.PasswordFromEnv != "" {
			pw, ok := v.envVar(p, "passwordFromEnv", c.PasswordFromEnv)
			if !ok {
				continue
			}
			c.pfxPassword = secretString{pw}
		}
		leaf, _, _, err := pki.ParseCertificateAndKey(data, c.pfxPassword.v)
		if err != nil {
			switch {
			case errors.Is(err, pki.ErrWrongPassword) && c.PasswordFromEnv == "":
				v.fail(p+".passwordFromEnv", "%s is a PFX with a password; name the environment variable that holds it", c.FromFile)
			case errors.Is(err, pki.ErrWrongPassword):
				v.fail(p+".passwordFromEnv", "the password in %s does not open %s", c.PasswordFromEnv, c.FromFile)
			default:
				v.fail(p+".fromFile", "%s: %v (a vault certificate needs its private key: a PFX or a PEM file with the key)", c.FromFile, err)
			}
			continue
		}
		if bytes.Contains(data, []byte("-----BEGIN ")) && c.PasswordFromEnv != "" {
			v.fail(p+".passwordFromEnv", "%s is PEM: a password applies to PFX files only", c.FromFile)
		}
		c.data = data
		c.x5t = pki.X5T(leaf)
		if c.Thumbprint != "" && c.Thumbprint != c.x5t && !strings.EqualFold(c.Thumbprint, pki.ThumbprintSHA1Hex(leaf)) {
			v.fail(p+".thumbprint", "is %s but %s holds the certificate %s; give the right file or remove thumbprint", c.Thumbprint, c.FromFile, c.x5t)
		}
	}
	for i := range vt.Keys {
		p := fmt.Sprintf("%s.keys[%d]", path, i)
		k := &vt.Keys[i]
		if vault.ValidateName(k.Name) != nil {
			v.fail(p+".name", "%q is not a vault object name: 1 to 127 letters, digits and dashes", k.Name)
		}
		if k.FromFile != "" {
			if k.KeySize != 0 || k.Curve != "" {
				v.fail(p, "an imported key (fromFile) takes its size or curve from the file; remove keySize and curve")
			}
			data, ok := v.readFile(p, "fromFile", k.FromFile)
			if !ok {
				continue
			}
			ik, err := readKeyFile(data)
			if err != nil {
				v.fail(p+".fromFile", "%s: %v", k.FromFile, err)
				continue
			}
			if k.Kty != "" && !strings.EqualFold(strings.TrimSuffix(k.Kty, "-HSM"), ik.kty) {
				v.fail(p+".kty", "is %s but %s holds an %s key; fix kty or remove it", k.Kty, k.FromFile, ik.kty)
			}
			k.imported = ik
			continue
		}
		switch strings.ToUpper(k.Kty) {
		case "RSA", "RSA-HSM":
			if k.Curve != "" {
				v.fail(p+".curve", "applies to EC keys only; remove it or use kty: EC")
			}
			if k.KeySize != 0 && k.KeySize != 2048 && k.KeySize != 3072 && k.KeySize != 4096 {
				v.fail(p+".keySize", "is %d; use 2048, 3072 or 4096", k.KeySize)
			}
		case "EC", "EC-HSM":
			if k.KeySize != 0 {
				v.fail(p+".keySize", "applies to RSA keys only; give curve (P-256, P-384 or P-521)")
			}
			switch k.Curve {
			case "", "P-256", "P-384", "P-521":
			default:
				v.fail(p+".curve", "is %q; use P-256, P-384 or P-521", k.Curve)
			}
		case "":
			v.fail(p+".kty", "required: RSA or EC for a key the vault generates, or give fromFile with a PEM private key to import")
		default:
			v.fail(p+".kty", "is %q; use RSA or EC (or RSA-HSM, EC-HSM)", k.Kty)
		}
	}
}

func canonicalRole(r string) (string, bool) {
	for _, d := range vault.Roles() {
		if strings.EqualFold(d.Name, strings.TrimSpace(r)) {
			return d.Name, true
		}
	}
	return r, false
}

func roleNames() []string {
	var out []string
	for _, d := range vault.Roles() {
		out = append(out, fmt.Sprintf("%q", d.Name))
	}
	return out
}

func readKeyFile(data []byte) (*importedKey, error) {
	key, err := vaultclient.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, err
	}
	jwk, err := vaultclient.PrivateJWK(key)
	if err != nil {
		return nil, err
	}
	return &importedKey{jwk: jwk, kty: jwk.Kty, pub: publicPart(jwk)}, nil
}

// publicPart identifies a JWK's public key.
func publicPart(k vaultclient.JSONWebKey) string {
	if k.N != "" {
		return "n=" + k.N
	}
	return "x=" + k.X + ",y=" + k.Y
}
