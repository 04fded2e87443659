package declarative

import (
	"path"
	"sort"
	"strings"

	"github.com/portcullis/portcullis/internal/directory"
)

// Export turns the server's configuration into a Document that apply
// reproduces. It holds no secret value, only references that apply reads:
//   - a client secret: saveTo secrets/TENANT-APP-DESCRIPTION.secret, where
//     apply writes a new secret when it creates one (the server never shows
//     an existing secret again);
//   - a certificate credential: certificateFile certs/TENANT-APP-THUMBPRINT.cer
//     with its thumbprint (the server keeps no copy to export: put the
//     certificate there);
//   - a vault secret: value fromEnv PORTCULLIS_SECRET_VAULT_NAME;
//   - a vault certificate: fromFile certs/VAULT-NAME.pem with its x5t
//     thumbprint (download it with 'portcullis certificate download NAME
//     --format pem');
//   - a vault key: its type and size or curve (apply on another server
//     creates a new key of that kind; give fromFile to import a key).
//
// Applications are sorted by display name; role assignments whose
// application no longer exists are left out.
func Export(st *State) *Document {
	doc := &Document{}
	nm := newNames(st)
	names := map[string]appRef{}
	for _, t := range st.Tenants {
		for _, a := range t.Applications {
			names[strings.ToLower(a.AppID)] = appRef{t.Tenant.Name, a.DisplayName}
		}
	}
	for _, t := range st.Tenants {
		tn := t.Tenant.Name
		out := Tenant{Name: tn}
		for _, a := range t.Applications {
			app := Application{DisplayName: a.DisplayName, AccessTokenLifetimeSeconds: a.AccessTokenLifetimeSeconds}
			if a.RequireCertificateBoundTokens {
				bound := true
				app.RequireCertificateBoundTokens = &bound
			}
			// The default URI (api://{appId}) and the vault application's
			// URIs (the server's own addresses, kept by the server) are not
			// configuration: another server has its own.
			if !(len(a.IdentifierURIs) == 1 && strings.EqualFold(a.IdentifierURIs[0], "api://"+a.AppID)) && builtIn(a) != directory.VaultIdentifierURI {
				app.IdentifierURIs = a.IdentifierURIs
				if app.IdentifierURIs == nil {
					app.IdentifierURIs = []string{}
				}
			}
			for _, r := range a.AppRoles {
				app.AppRoles = append(app.AppRoles, AppRole{Value: r.Value, DisplayName: r.DisplayName, Description: r.Description})
			}
			for _, k := range a.KeyCredentials {
				app.KeyCredentials = append(app.KeyCredentials, KeyCredential{
					CertificateFile: path.Join("certs", slug(tn, a.DisplayName, k.Thumbprint)+".cer"),
					Thumbprint:      k.Thumbprint, Description: k.Description,
				})
			}
			seen := map[string]bool{}
			for _, s := range a.PasswordCredentials {
				if seen[s.Description] {
					continue
				}
				seen[s.Description] = true
				app.PasswordCredentials = append(app.PasswordCredentials, PasswordCredential{
					Description: s.Description,
					SaveTo:      path.Join("secrets", slug(tn, a.DisplayName, s.Description)+".secret"),
				})
			}
			for _, f := range a.FederatedIdentityCredentials {
				app.FederatedIdentityCredentials = append(app.FederatedIdentityCredentials, FederatedIdentityCredential{
					Name: f.Name, Issuer: f.Issuer, Subject: f.Subject, Audiences: f.Audiences, Description: f.Description,
					JWKSURI: f.JWKSURI, Keys: f.Keys,
				})
			}
			out.Applications = append(out.Applications, app)
		}
		sort.SliceStable(out.Applications, func(i, j int) bool {
			return strings.ToLower(out.Applications[i].DisplayName) < strings.ToLower(out.Applications[j].DisplayName)
		})
		for _, g := range t.Grants {
			cl, ok1 := names[strings.ToLower(g.ClientAppID)]
			rs, ok2 := names[strings.ToLower(g.ResourceAppID)]
			if !ok1 || !ok2 {
				continue
			}
			out.Grants = append(out.Grants, Grant{Client: cl.name, Resource: rs.name, Role: g.RoleValue})
		}
		for _, a := range t.APIs {
			out.APIs = append(out.APIs, API{nm.api(a)})
		}
		for _, c := range t.Connectors {
			out.Connectors = append(out.Connectors, Connector{nm.connector(tn, c)})
		}
		doc.Tenants = append(doc.Tenants, out)
	}
	for _, v := range st.Vaults {
		out := Vault{Name: v.Vault.Name, SoftDeleteRetentionDays: v.Vault.SoftDeleteRetentionDays, PurgeProtection: v.Vault.PurgeProtection}
		for _, ra := range v.RoleAssignments {
			ref, ok := names[strings.ToLower(ra.PrincipalID)]
			if !ok {
				continue
			}
			r := RoleAssignment{Principal: ref.name, Role: ra.Role, Scope: strings.Trim(ra.Scope, "/")}
			if !strings.EqualFold(ref.tenant, directory.DefaultTenantName) {
				r.Tenant = ref.tenant
			}
			out.RoleAssignments = append(out.RoleAssignments, r)
		}
		for _, s := range v.Secrets {
			out.Secrets = append(out.Secrets, Secret{Name: s.Name, ContentType: s.ContentType,
				Value: ValueSource{FromEnv: envName("PORTCULLIS_SECRET", v.Vault.Name, s.Name)}})
		}
		for _, c := range v.Certificates {
			out.Certificates = append(out.Certificates, Certificate{Name: c.Name, FromFile: path.Join("certs", slug(v.Vault.Name, c.Name)+".pem"), Thumbprint: c.X5T})
		}
		for _, k := range v.Keys {
			key := Key{Name: k.Name, Kty: k.Kty, Curve: k.Curve}
			if k.Curve == "" {
				key.KeySize = k.KeySize
			}
			out.Keys = append(out.Keys, key)
		}
		doc.Vaults = append(doc.Vaults, out)
	}
	return doc
}

// slug joins parts into a file name: letters, digits, '.', '-' and '_'
// kept, anything else a '_'.
func slug(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('-')
		}
		if p == "" {
			p = "_"
		}
		for _, r := range p {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
				b.WriteRune(r)
			default:
				b.WriteByte('_')
			}
		}
	}
	return strings.TrimLeft(b.String(), ".")
}

// envName is an environment variable name: parts upper-cased, joined by
// '_', with every other character a '_'.
func envName(parts ...string) string {
	s := strings.ToUpper(strings.Join(parts, "_"))
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
