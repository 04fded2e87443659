package directory

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/store"
)

// Service holds the directory's rules: what a valid name, identifier URI,
// role value or credential is, the limits, which built-in applications and
// roles cannot go, which grants can be made, and that a tenant holding the
// management API never loses its last administrator. Every change runs in
// one Store.UpdateDirectory transaction that reads what the rule needs,
// checks it and writes, so the rules hold across the nodes of a cluster
// without any process-local lock.
//
// Tenants and applications are named by references as users type them: a
// tenant by id or name, an application by appId or (unique) display name,
// a resource also by identifier URI, a role by id or value.
type Service struct {
	st   Store
	now  func() time.Time
	refs VaultReferences // nil: references are not recorded (see WithVaultReferences)
}

// NewService returns the directory service over st; now is the clock (nil
// means time.Now).
func NewService(st Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	// The store keeps microseconds; answer creates with the time a later
	// read returns.
	return &Service{st: st, now: func() time.Time { return now().UTC().Truncate(time.Microsecond) }}
}

// keepErr returns err as is when it is a refusal of the Service and wraps
// anything else (a store error) with what.
func keepErr(what string, err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Tenants returns every tenant.
func (s *Service) Tenants(ctx context.Context) ([]Tenant, error) {
	return s.st.ListTenants(ctx)
}

// Tenant finds a tenant by id or name.
func (s *Service) Tenant(ctx context.Context, ref string) (Tenant, error) {
	return resolveTenant(ctx, s.st, ref)
}

// Applications returns the applications of the tenant named by tenantRef.
func (s *Service) Applications(ctx context.Context, tenantRef string) ([]Application, error) {
	t, err := resolveTenant(ctx, s.st, tenantRef)
	if err != nil {
		return nil, err
	}
	return s.st.ListApplications(ctx, t.ID)
}

// Application finds an application by appId or display name in the tenant
// named by tenantRef.
func (s *Service) Application(ctx context.Context, tenantRef, appRef string) (Tenant, Application, error) {
	return resolveTenantApp(ctx, s.st, tenantRef, appRef)
}

// CreateTenant adds a tenant with the given name; it has no signing key yet.
func (s *Service) CreateTenant(ctx context.Context, name string) (Tenant, error) {
	if err := validateTenantName(name); err != nil {
		return Tenant{}, err
	}
	t := Tenant{ID: newGUID(), Name: name, CreatedAt: s.now()}
	err := s.st.UpdateDirectory(ctx, func(tx Tx) error {
		tenants, err := tx.ListTenants(ctx)
		if err != nil {
			return err
		}
		for _, o := range tenants {
			if strings.EqualFold(o.Name, name) {
				return conflict("a tenant named %q exists already (id %s); tenant names are unique regardless of case", o.Name, o.ID)
			}
		}
		return tx.CreateTenant(ctx, t)
	})
	if err != nil {
		return Tenant{}, keepErr("create tenant", err)
	}
	return t, nil
}

// DeleteTenant removes a tenant with everything that hangs on it (its
// applications with their credentials, grants and vault role assignments,
// its APIs, and its signing keys) in one transaction. The tenant holding the
// management API cannot be deleted.
func (s *Service) DeleteTenant(ctx context.Context, tenantRef string) error {
	var deleted Tenant
	var connectors []Connector
	var apis []API
	err := s.st.UpdateDirectory(ctx, func(tx Tx) error {
		t, err := resolveTenant(ctx, tx, tenantRef)
		if err != nil {
			return err
		}
		deleted = t
		if connectors, err = tx.ListConnectors(ctx, t.ID); err != nil {
			return err
		}
		if apis, err = tx.ListAPIs(ctx, t.ID); err != nil {
			return err
		}
		mgmt, err := tx.FindApplications(ctx, t.ID, ApplicationQuery{IdentifierURIs: []string{ManagementIdentifierURI}})
		if err != nil {
			return err
		}
		if len(mgmt) > 0 {
			return conflict("tenant %s (%s) holds the management API that authorizes every admin call; it cannot be deleted", t.Name, t.ID)
		}
		if err := refuseIssuerReferences(ctx, tx, t); err != nil {
			return err
		}
		return tx.DeleteTenant(ctx, t.ID)
	})
	if err == nil {
		// The tenant's connectors and APIs are gone: release their vault
		// references (a failure leaves a stale one, which is safe).
		for _, c := range connectors {
			_ = s.settleConnectorReferences(ctx, deleted, c.Name, ConnectorReferences(c))
		}
		for _, a := range apis {
			_ = s.settleAPIReferences(ctx, deleted, a.Name, APIReferences(a))
		}
	}
	return keepErr("delete tenant", err)
}

// refuseIssuerReferences refuses, in the deleting transaction, to delete a
// tenant that a gateway API of another tenant accepts as a bearer issuer:
// the API would keep a reference to nothing, which neither a PUT of its
// own JSON nor an export and apply could carry. Its own tenant's APIs go
// with it.
func refuseIssuerReferences(ctx context.Context, tx Tx, t Tenant) error {
	apis, err := tx.ListAllAPIs(ctx)
	if err != nil {
		return err
	}
	for _, a := range apis {
		if a.TenantID == t.ID {
			continue
		}
		for i, m := range a.Policy.Methods {
			for j, is := range m.Issuers {
				if !strings.EqualFold(is.Tenant, t.ID) {
					continue
				}
				owner := a.TenantID
				if o, err := resolveTenant(ctx, tx, a.TenantID); err == nil {
					owner = o.Name
				}
				return conflict("tenant %s (%s) is a bearer issuer of the gateway API %q of tenant %s (policy.methods[%d].issuers[%d]); remove it from that API first (PUT %s/tenants/%s/apis/%s)",
					t.Name, t.ID, a.Name, owner, i, j, adminAPI, owner, a.Name)
			}
		}
	}
	return nil
}

// NewApplication describes an application to register, with the admin
// API's field names in its refusals. Without identifier URIs the
// application gets api://{appId}; a nil lifetime means the default (1 h).
type NewApplication struct {
	DisplayName                   string
	IdentifierURIs                []string
	AccessTokenLifetimeSeconds    *int64
	RequireCertificateBoundTokens bool
}

// DefaultAccessTokenLifetime is the lifetime of access tokens for a
// resource that sets none.
const DefaultAccessTokenLifetime = time.Hour

// CreateApplication registers an application in the tenant named by
// tenantRef. Display names and identifier URIs are unique in the tenant.
func (s *Service) CreateApplication(ctx context.Context, tenantRef string, req NewApplication) (Application, error) {
	var app Application
	name, err := normalizeDisplayName("displayName", req.DisplayName)
	if err != nil {
		return app, err
	}
	if err := validateIdentifierURIs(req.IdentifierURIs); err != nil {
		return app, err
	}
	app.DisplayName = name
	app.IdentifierURIs = append([]string{}, req.IdentifierURIs...)
	app.RequireCertificateBoundTokens = req.RequireCertificateBoundTokens
	app.AccessTokenLifetime = DefaultAccessTokenLifetime
	if req.AccessTokenLifetimeSeconds != nil {
		if app.AccessTokenLifetime, err = validateAccessTokenLifetime(*req.AccessTokenLifetimeSeconds); err != nil {
			return app, err
		}
	}
	err = s.st.UpdateDirectory(ctx, func(tx Tx) error {
		t, err := resolveTenant(ctx, tx, tenantRef)
		if err != nil {
			return err
		}
		app.TenantID, app.AppID, app.ObjectID, app.CreatedAt = t.ID, newGUID(), newGUID(), s.now()
		if len(app.IdentifierURIs) == 0 {
			app.IdentifierURIs = []string{"api://" + app.AppID}
		}
		if err := checkUnique(ctx, tx, app); err != nil {
			return err
		}
		return tx.CreateApplication(ctx, app)
	})
	if err != nil {
		return Application{}, keepErr("create application", err)
	}
	return app, nil
}

// checkUnique refuses a display name or identifier URI that another
// application of the tenant uses (case-insensitively), naming that
// application. The store enforces the same; this gives the better message.
func checkUnique(ctx context.Context, tx Tx, app Application) error {
	others, err := tx.FindApplications(ctx, app.TenantID, ApplicationQuery{DisplayName: app.DisplayName, IdentifierURIs: app.IdentifierURIs})
	if err != nil {
		return err
	}
	for _, other := range others {
		if other.AppID == app.AppID {
			continue
		}
		if strings.EqualFold(other.DisplayName, app.DisplayName) {
			return conflict("display name %q is used by application %s in this tenant; choose another name", other.DisplayName, other.AppID)
		}
		for _, u := range app.IdentifierURIs {
			for _, ou := range other.IdentifierURIs {
				if strings.EqualFold(u, ou) {
					return conflict("identifier URI %q is used by application %q (%s) in this tenant; choose another URI", ou, other.DisplayName, other.AppID)
				}
			}
		}
	}
	return nil
}

// ApplicationChange lists what to change in an application; nil fields stay.
type ApplicationChange struct {
	DisplayName                   *string
	IdentifierURIs                *[]string
	AccessTokenLifetimeSeconds    *int64
	RequireCertificateBoundTokens *bool
}

// UpdateApplication changes an application's display name, identifier URIs,
// token lifetime or whether its tokens must be certificate-bound. A
// built-in application keeps its built-in URI and takes unbound tokens
// (Portcullis itself requests them, some with a secret).
func (s *Service) UpdateApplication(ctx context.Context, tenantRef, appRef string, req ApplicationChange) (Application, error) {
	var name string
	var err error
	if req.DisplayName != nil {
		if name, err = normalizeDisplayName("displayName", *req.DisplayName); err != nil {
			return Application{}, err
		}
	}
	if req.IdentifierURIs != nil {
		if err := validateIdentifierURIs(*req.IdentifierURIs); err != nil {
			return Application{}, err
		}
	}
	lifetime := DefaultAccessTokenLifetime
	if req.AccessTokenLifetimeSeconds != nil {
		if lifetime, err = validateAccessTokenLifetime(*req.AccessTokenLifetimeSeconds); err != nil {
			return Application{}, err
		}
	}
	var updated Application
	err = s.st.UpdateDirectory(ctx, func(tx Tx) error {
		t, app, err := resolveTenantApp(ctx, tx, tenantRef, appRef)
		if err != nil {
			return err
		}
		updated, err = tx.UpdateApplication(ctx, t.ID, app.AppID, func(cur *Application) error {
			if req.DisplayName != nil {
				cur.DisplayName = name
			}
			if req.IdentifierURIs != nil {
				uris := append([]string{}, (*req.IdentifierURIs)...)
				if b := BuiltInIdentifierURI(*cur); b != "" && !containsFold(uris, b) {
					return conflict("application %q is built in and must keep the identifier URI %s: Portcullis requests tokens for it; include it in \"identifierUris\"", cur.DisplayName, b)
				}
				cur.IdentifierURIs = uris
			}
			if req.AccessTokenLifetimeSeconds != nil {
				cur.AccessTokenLifetime = lifetime
			}
			if req.RequireCertificateBoundTokens != nil {
				if b := BuiltInIdentifierURI(*cur); b != "" && *req.RequireCertificateBoundTokens {
					return conflict("application %q is built in (identifier URI %s): Portcullis itself requests its tokens, some with a client secret, so it cannot require certificate-bound tokens", cur.DisplayName, b)
				}
				cur.RequireCertificateBoundTokens = *req.RequireCertificateBoundTokens
			}
			return checkUnique(ctx, tx, *cur)
		})
		return err
	})
	if err != nil {
		return Application{}, keepErr("update application", err)
	}
	return updated, nil
}

// DeleteApplication removes an application with its credentials, the
// grants it holds or defines, and its vault role assignments. Built-in
// applications and the last administrator cannot be deleted.
func (s *Service) DeleteApplication(ctx context.Context, tenantRef, appRef string) error {
	err := s.st.UpdateDirectory(ctx, func(tx Tx) error {
		t, app, err := resolveTenantApp(ctx, tx, tenantRef, appRef)
		if err != nil {
			return err
		}
		if isManagementApp(app) {
			return conflict("application %q (%s) is the management API that authorizes every admin call; it cannot be deleted", app.DisplayName, app.AppID)
		}
		if b := BuiltInIdentifierURI(app); b != "" {
			return conflict("application %q (%s) is built in (identifier URI %s) and cannot be deleted", app.DisplayName, app.AppID, b)
		}
		if names, err := connectorsAttachedTo(ctx, tx, t.ID, app.AppID); err != nil {
			return err
		} else if len(names) > 0 {
			return conflict("application %q (%s) has the token-issuance connector %q; detach it from the connector's tokenIssuance first (PUT %s/tenants/%s/connectors/%s)", app.DisplayName, app.AppID, names[0], adminAPI, t.Name, names[0])
		}
		return keepsAnAdmin(ctx, tx, t.ID, func() error { return tx.DeleteApplication(ctx, t.ID, app.AppID) }, lockout{
			lastGrant: fmt.Sprintf("application %q (%s) holds the last grant of %s; deleting it would lock every administrator out. Grant %s to another application first",
				app.DisplayName, app.AppID, AdminRoleValue, AdminRoleValue),
			lastCredential: fmt.Sprintf("application %q (%s) is the last application with a credential that holds %s; deleting it would lock every administrator out. Grant %s to another application that has a client secret or certificate first",
				app.DisplayName, app.AppID, AdminRoleValue, AdminRoleValue),
		})
	})
	return keepErr("delete application", err)
}

// NewAppRole describes an app role to add; an empty DisplayName means the
// value.
type NewAppRole struct {
	Value       string
	DisplayName string
	Description string
}

// AddAppRole adds an enabled app role to an application; role values are
// unique per application regardless of case.
func (s *Service) AddAppRole(ctx context.Context, tenantRef, appRef string, req NewAppRole) (AppRole, error) {
	role := AppRole{Value: req.Value, Enabled: true}
	if err := validateRoleValue(req.Value); err != nil {
		return role, err
	}
	var err error
	if strings.TrimSpace(req.DisplayName) == "" {
		role.DisplayName = req.Value
	} else if role.DisplayName, err = normalizeDisplayName("displayName", req.DisplayName); err != nil {
		return role, err
	}
	if role.Description, err = normalizeDescription("description", req.Description); err != nil {
		return role, err
	}
	role.ID = newGUID()
	err = s.changeApplication(ctx, tenantRef, appRef, func(_ Tenant, cur *Application) error {
		for _, existing := range cur.AppRoles {
			if strings.EqualFold(existing.Value, role.Value) {
				return conflict("application %q already has the app role %q (id %s); role values are unique per application regardless of case", cur.DisplayName, existing.Value, existing.ID)
			}
		}
		if len(cur.AppRoles) >= MaxAppRoles {
			return conflict("application %q has %d app roles, the maximum; delete one first", cur.DisplayName, len(cur.AppRoles))
		}
		cur.AppRoles = append(cur.AppRoles, role)
		return nil
	}, nil)
	if err != nil {
		return AppRole{}, keepErr("add app role", err)
	}
	return role, nil
}

// RemoveAppRole removes an app role that no grant uses; the management
// API's Portcullis.Admin role cannot be removed.
func (s *Service) RemoveAppRole(ctx context.Context, tenantRef, appRef, roleRef string) error {
	err := s.st.UpdateDirectory(ctx, func(tx Tx) error {
		t, app, err := resolveTenantApp(ctx, tx, tenantRef, appRef)
		if err != nil {
			return err
		}
		role, ok := FindRole(app, roleRef)
		if !ok {
			return notFound("application %q has no app role with id or value %q; list them with GET %s/tenants/%s/applications/%s/appRoles", app.DisplayName, roleRef, adminAPI, t.Name, app.AppID)
		}
		if isAdminRole(app, role) {
			return conflict("the %s role of the management API authorizes every admin call; it cannot be removed", AdminRoleValue)
		}
		using, err := tx.FindGrants(ctx, t.ID, GrantQuery{ResourceAppID: app.AppID, AppRoleID: role.ID})
		if err != nil {
			return err
		}
		if len(using) > 0 {
			ids := make([]string, len(using))
			for i, g := range using {
				ids[i] = g.ID
			}
			return conflict("app role %q is granted by %d grant(s): %s; delete them first (DELETE %s/tenants/%s/grants/{id})", role.Value, len(using), strings.Join(ids, ", "), adminAPI, t.Name)
		}
		_, err = tx.UpdateApplication(ctx, t.ID, app.AppID, func(cur *Application) error {
			if removeFirst(&cur.AppRoles, func(existing AppRole) bool { return existing.ID == role.ID }) {
				return nil
			}
			return notFound("app role %q was deleted concurrently", role.Value)
		})
		return err
	})
	return keepErr("delete app role", err)
}

// AddPasswordCredential generates a client secret for an application and
// stores its hash. expiresInSeconds nil means 180 days. The returned
// ClientSecret's Text is the only copy of the secret.
func (s *Service) AddPasswordCredential(ctx context.Context, tenantRef, appRef, description string, expiresInSeconds *int64) (PasswordCredential, ClientSecret, error) {
	description, err := normalizeDescription("description", description)
	if err != nil {
		return PasswordCredential{}, ClientSecret{}, err
	}
	lifetime, err := validateSecretLifetime(expiresInSeconds)
	if err != nil {
		return PasswordCredential{}, ClientSecret{}, err
	}
	secret, err := NewClientSecret()
	if err != nil {
		return PasswordCredential{}, ClientSecret{}, err
	}
	now := s.now()
	cred := PasswordCredential{
		ID: newGUID(), Hint: secret.Hint, Hash: secret.Hash, Description: description,
		StartAt: now, ExpiresAt: now.Add(lifetime), CreatedAt: now,
	}
	err = s.changeApplication(ctx, tenantRef, appRef, func(_ Tenant, cur *Application) error {
		if len(cur.PasswordCredentials) >= MaxPasswordCredentials {
			return conflict("application %q has %d client secrets, the maximum; delete an old one first", cur.DisplayName, len(cur.PasswordCredentials))
		}
		cur.PasswordCredentials = append(cur.PasswordCredentials, cred)
		return nil
	}, nil)
	if err != nil {
		return PasswordCredential{}, ClientSecret{}, keepErr("add client secret", err)
	}
	return cred, secret, nil
}

// RemovePasswordCredential deletes a client secret by id, unless it is the
// last credential of the last administrator.
func (s *Service) RemovePasswordCredential(ctx context.Context, tenantRef, appRef, id string) error {
	err := s.changeApplication(ctx, tenantRef, appRef, func(t Tenant, cur *Application) error {
		if removeFirst(&cur.PasswordCredentials, func(c PasswordCredential) bool { return strings.EqualFold(c.ID, id) }) {
			return nil
		}
		return notFound("application %q has no client secret with id %q; list them with GET %s/tenants/%s/applications/%s/passwordCredentials", cur.DisplayName, id, adminAPI, t.Name, cur.AppID)
	}, func(app Application) lockout {
		return lockout{lastCredential: fmt.Sprintf("client secret %s is the last credential of application %q (%s), the last holder of %s with a credential; removing it would lock every administrator out. Add another credential first, or grant %s to another application that has one",
			id, app.DisplayName, app.AppID, AdminRoleValue, AdminRoleValue)}
	})
	return keepErr("delete client secret", err)
}

// AddKeyCredential registers cert (its public part only) as a credential of
// an application; an expired certificate, a certificate the application
// has already, and more than MaxKeyCredentials are refused.
func (s *Service) AddKeyCredential(ctx context.Context, tenantRef, appRef string, cert *x509.Certificate, description string) (KeyCredential, error) {
	description, err := normalizeDescription("description", description)
	if err != nil {
		return KeyCredential{}, err
	}
	if err := checkAssertionKey(cert); err != nil {
		return KeyCredential{}, err
	}
	now := s.now()
	if now.After(cert.NotAfter) {
		return KeyCredential{}, invalid("the certificate %q expired on %s; upload a certificate that is still valid", cert.Subject.String(), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	cred := KeyCredential{
		ID:             newGUID(),
		Description:    description,
		CertificateDER: cert.Raw,
		ThumbprintSHA1: pki.ThumbprintSHA1Hex(cert),
		ThumbprintS256: pki.X5TS256(cert),
		Subject:        cert.Subject.String(),
		NotBefore:      cert.NotBefore.UTC(),
		NotAfter:       cert.NotAfter.UTC(),
		CreatedAt:      now,
	}
	err = s.changeApplication(ctx, tenantRef, appRef, func(_ Tenant, cur *Application) error {
		for _, c := range cur.KeyCredentials {
			if strings.EqualFold(c.ThumbprintSHA1, cred.ThumbprintSHA1) {
				return conflict("application %q already has this certificate (thumbprint %s, key credential id %s)", cur.DisplayName, cred.ThumbprintSHA1, c.ID)
			}
		}
		if len(cur.KeyCredentials) >= MaxKeyCredentials {
			return conflict("application %q has %d certificates, the maximum; delete an old one first", cur.DisplayName, len(cur.KeyCredentials))
		}
		cur.KeyCredentials = append(cur.KeyCredentials, cred)
		return nil
	}, nil)
	if err != nil {
		return KeyCredential{}, keepErr("add certificate", err)
	}
	return cred, nil
}

// RemoveKeyCredential deletes a certificate by id or SHA-1 thumbprint,
// unless it is the last credential of the last administrator.
func (s *Service) RemoveKeyCredential(ctx context.Context, tenantRef, appRef, ref string) error {
	err := s.changeApplication(ctx, tenantRef, appRef, func(t Tenant, cur *Application) error {
		if removeFirst(&cur.KeyCredentials, func(c KeyCredential) bool {
			return strings.EqualFold(c.ID, ref) || strings.EqualFold(c.ThumbprintSHA1, ref)
		}) {
			return nil
		}
		return notFound("application %q has no certificate with id or thumbprint %q; list them with GET %s/tenants/%s/applications/%s/keyCredentials", cur.DisplayName, ref, adminAPI, t.Name, cur.AppID)
	}, func(app Application) lockout {
		return lockout{lastCredential: fmt.Sprintf("certificate %s is the last credential of application %q (%s), the last holder of %s with a credential; removing it would lock every administrator out. Add another credential first, or grant %s to another application that has one",
			ref, app.DisplayName, app.AppID, AdminRoleValue, AdminRoleValue)}
	})
	return keepErr("delete certificate", err)
}

// changeApplication applies mutate to the application named by tenantRef
// and appRef in one transaction. When guard is not nil, the change must
// keep an administrator (see keepsAnAdmin) and guard gives the refusals.
func (s *Service) changeApplication(ctx context.Context, tenantRef, appRef string, mutate func(Tenant, *Application) error, guard func(Application) lockout) error {
	return s.st.UpdateDirectory(ctx, func(tx Tx) error {
		t, app, err := resolveTenantApp(ctx, tx, tenantRef, appRef)
		if err != nil {
			return err
		}
		update := func() error {
			_, err := tx.UpdateApplication(ctx, t.ID, app.AppID, func(cur *Application) error { return mutate(t, cur) })
			return err
		}
		if guard == nil {
			return update()
		}
		return keepsAnAdmin(ctx, tx, t.ID, update, guard(app))
	})
}

// removeFirst removes the first element of *list that match accepts,
// reporting whether there was one; the result never shares the original's
// backing array.
func removeFirst[T any](list *[]T, match func(T) bool) bool {
	for i, x := range *list {
		if match(x) {
			*list = append((*list)[:i:i], (*list)[i+1:]...)
			return true
		}
	}
	return false
}

// GrantRequest names a grant to make: the client application (appId or
// display name), the resource (appId, display name or identifier URI) and
// the role (id or value).
type GrantRequest struct {
	Client   string
	Resource string
	Role     string
}

// GrantedRole is a grant together with the value of the role it grants
// ("" when the role no longer exists).
type GrantedRole struct {
	Grant
	RoleValue string
}

// Grants returns the grants of the tenant named by tenantRef with their
// role values.
func (s *Service) Grants(ctx context.Context, tenantRef string) ([]GrantedRole, error) {
	t, err := resolveTenant(ctx, s.st, tenantRef)
	if err != nil {
		return nil, err
	}
	grants, err := s.st.ListGrants(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	apps, err := s.st.ListApplications(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]Application, len(apps))
	for _, app := range apps {
		byID[strings.ToLower(app.AppID)] = app
	}
	out := make([]GrantedRole, len(grants))
	for i, g := range grants {
		out[i] = GrantedRole{Grant: g}
		if res, ok := byID[strings.ToLower(g.ResourceAppID)]; ok {
			if r, ok := FindRole(res, g.AppRoleID); ok {
				out[i].RoleValue = r.Value
			}
		}
	}
	return out, nil
}

// CreateGrant grants an enabled app role of a resource to a client
// application (admin consent), once.
func (s *Service) CreateGrant(ctx context.Context, tenantRef string, req GrantRequest) (GrantedRole, error) {
	for _, f := range []struct{ name, v, what string }{
		{"client", req.Client, "the appId or display name of the application that receives the role"},
		{"resource", req.Resource, "the appId, display name or identifier URI of the API that defines the role"},
		{"role", req.Role, "the value or id of the app role"},
	} {
		if strings.TrimSpace(f.v) == "" {
			return GrantedRole{}, invalid("field %q is required: %s", f.name, f.what)
		}
	}
	var out GrantedRole
	err := s.st.UpdateDirectory(ctx, func(tx Tx) error {
		t, err := resolveTenant(ctx, tx, tenantRef)
		if err != nil {
			return err
		}
		client, err := resolveApp(ctx, tx, t, req.Client, "client application")
		if err != nil {
			return err
		}
		resource, err := resolveResource(ctx, tx, t, req.Resource)
		if err != nil {
			return err
		}
		role, ok := FindRole(resource, req.Role)
		if !ok {
			values := make([]string, len(resource.AppRoles))
			for i, r := range resource.AppRoles {
				values[i] = r.Value
			}
			if len(values) == 0 {
				return notFound("resource application %q defines no app roles; add one first (POST %s/tenants/%s/applications/%s/appRoles)", resource.DisplayName, adminAPI, t.Name, resource.AppID)
			}
			return notFound("resource application %q has no app role %q; its roles are: %s", resource.DisplayName, clip(req.Role), strings.Join(values, ", "))
		}
		if !role.Enabled {
			return conflict("app role %q of %q is disabled; only enabled roles can be granted", role.Value, resource.DisplayName)
		}
		existing, err := tx.FindGrants(ctx, t.ID, GrantQuery{ClientAppID: client.AppID, ResourceAppID: resource.AppID, AppRoleID: role.ID})
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			return conflict("application %q already holds app role %q of %q (grant %s)", client.DisplayName, role.Value, resource.DisplayName, existing[0].ID)
		}
		g := Grant{ID: newGUID(), TenantID: t.ID, ClientAppID: client.AppID, ResourceAppID: resource.AppID, AppRoleID: role.ID, CreatedAt: s.now()}
		if err := tx.CreateGrant(ctx, g); err != nil {
			return err
		}
		out = GrantedRole{Grant: g, RoleValue: role.Value}
		return nil
	})
	if err != nil {
		return GrantedRole{}, keepErr("create grant", err)
	}
	return out, nil
}

// DeleteGrant removes a grant by id, unless it is the last administrator's.
func (s *Service) DeleteGrant(ctx context.Context, tenantRef, id string) error {
	err := s.st.UpdateDirectory(ctx, func(tx Tx) error {
		t, err := resolveTenant(ctx, tx, tenantRef)
		if err != nil {
			return err
		}
		found, err := tx.FindGrants(ctx, t.ID, GrantQuery{ID: strings.ToLower(id)})
		if err != nil {
			return err
		}
		if len(found) == 0 && id != strings.ToLower(id) {
			found, err = tx.FindGrants(ctx, t.ID, GrantQuery{ID: id})
			if err != nil {
				return err
			}
		}
		if len(found) == 0 {
			return notFound("tenant %s has no grant with id %q; list them with GET %s/tenants/%s/grants", t.Name, id, adminAPI, t.Name)
		}
		g := found[0]
		return keepsAnAdmin(ctx, tx, t.ID, func() error { return tx.DeleteGrant(ctx, t.ID, g.ID) }, lockout{
			lastGrant: fmt.Sprintf("grant %s is the last grant of %s; removing it would lock every administrator out. Grant %s to another application first",
				g.ID, AdminRoleValue, AdminRoleValue),
			lastCredential: fmt.Sprintf("grant %s is the last grant of %s to an application with a credential; removing it would lock every administrator out. Grant %s to another application that has a client secret or certificate first",
				g.ID, AdminRoleValue, AdminRoleValue),
		})
	})
	return keepErr("delete grant", err)
}

// CheckDescription validates a credential's description on its own, so
// that a surface can refuse it before decoding a certificate upload.
func (s *Service) CheckDescription(description string) error {
	_, err := normalizeDescription("description", description)
	return err
}

// Principal finds the application that a vault role assignment in tenant t
// names: its appId or object id (any case), else its display name if
// exactly one application of the tenant has it.
func (s *Service) Principal(ctx context.Context, t Tenant, ref string) (Application, error) {
	if isGUID(ref) {
		app, err := s.st.GetApplication(ctx, t.ID, strings.ToLower(ref))
		if err == nil {
			return app, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return Application{}, err
		}
		apps, err := s.st.ListApplications(ctx, t.ID)
		if err != nil {
			return Application{}, err
		}
		for _, app := range apps {
			if strings.EqualFold(app.ObjectID, ref) {
				return app, nil
			}
		}
	}
	return resolveApp(ctx, s.st, t, ref, "principal application")
}

// checkAssertionKey refuses a certificate whose key the token service
// would never accept a client assertion from (internal/jws): RSA under
// 2048 bits, EC on a curve other than P-256, P-384 or P-521, other key
// types. Registering it would only fail later, at every token request.
func checkAssertionKey(cert *x509.Certificate) error {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < 2048 {
			return invalid("the certificate %q has a %d-bit RSA key; client assertions need at least 2048 bits: create a new certificate (portcullis cert create uses 2048 or more)", cert.Subject.String(), n)
		}
		return nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return invalid("the certificate %q has an EC key on curve %s; client assertions use P-256, P-384 or P-521", cert.Subject.String(), k.Curve.Params().Name)
	}
	return invalid("the certificate %q has a %T key; client assertions are signed with RSA (2048 bits or more) or EC (P-256, P-384, P-521) keys", cert.Subject.String(), cert.PublicKey)
}
