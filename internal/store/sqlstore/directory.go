package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
)

// key is the form in which names and URIs are compared case-insensitively;
// it matches directory.Snapshot's lookups.
func key(s string) string { return strings.ToLower(s) }

func required(what string, values ...string) error {
	for i := 0; i+1 < len(values); i += 2 {
		if values[i+1] == "" {
			return fmt.Errorf("%s: %s is empty", what, values[i])
		}
	}
	return nil
}

// conflictFallback turns a constraint violation that slipped past the
// explicit checks into store.ErrConflict or store.ErrNotFound.
func (s *Store) conflictFallback(what string, err error) error {
	switch s.db.Constraint(err) {
	case UniqueViolation:
		// The driver's text (table and constraint names) stays out: this
		// message reaches API clients.
		return fmt.Errorf("%s: a unique value is already taken (a concurrent change won); retry: %w", what, store.ErrConflict)
	case ForeignKeyViolation:
		return fmt.Errorf("%s: a referenced object does not exist (it was removed concurrently): %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// writeError wraps err, from a write transaction, with what: ErrConflict and
// ErrNotFound as they are, any other error through conflictFallback; nil
// stays nil.
func (s *Store) writeError(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%s: %w", what, err)
	}
	return s.conflictFallback(what, err)
}

// readValue runs get in one consistent read-only transaction and returns
// what it returned.
func readValue[T any](ctx context.Context, s *Store, get func(Querier) (T, error)) (T, error) {
	var out T
	err := s.Read(ctx, func(q Querier) error {
		var err error
		out, err = get(q)
		return err
	})
	return out, err
}

// scanAll runs query and returns what scan makes of each row, in order; the
// slice is empty, not nil, when there are no rows.
func scanAll[T any](ctx context.Context, q Querier, query string, args []any, scan func(Rows) (T, error)) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// withLimit appends a LIMIT of limit rows to query and args when limit is
// positive.
func withLimit(query string, args []any, limit int) (string, []any) {
	if limit > 0 {
		return query + ` LIMIT ?`, append(args, int64(limit))
	}
	return query, args
}

func tenantExists(ctx context.Context, q Querier, tenantID string) error {
	ok, err := Exists(ctx, q, `SELECT 1 FROM tenants WHERE id = ?`, tenantID)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("tenant %q: %w", tenantID, store.ErrNotFound)
	}
	return nil
}

// CreateTenant adds a tenant.
func (t dirTx) CreateTenant(ctx context.Context, tn directory.Tenant) error {
	if err := required("create tenant", "id", tn.ID, "name", tn.Name); err != nil {
		return err
	}
	q := t.q
	err := func() error {
		ok, err := Exists(ctx, q, `SELECT 1 FROM tenants WHERE id = ?`, tn.ID)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("tenant id %q exists: %w", tn.ID, store.ErrConflict)
		}
		var other string
		found, err := QueryOne(ctx, q, `SELECT id FROM tenants WHERE name_key = ?`, []any{key(tn.Name)}, &other)
		if err != nil {
			return err
		}
		if found {
			return fmt.Errorf("tenant name %q is used by tenant %s: %w", tn.Name, other, store.ErrConflict)
		}
		if _, err = q.Exec(ctx, `INSERT INTO tenants (id, name, name_key, created_at) VALUES (?, ?, ?, ?)`,
			tn.ID, tn.Name, key(tn.Name), Time(tn.CreatedAt)); err != nil {
			return err
		}
		return changed(ctx, q, changeTenant, tn.ID, "")
	}()
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return t.s.conflictFallback(fmt.Sprintf("create tenant %q", tn.Name), err)
	}
	return err
}

// ListTenants returns all tenants ordered by creation time, then id.
func (t dirTx) ListTenants(ctx context.Context) ([]directory.Tenant, error) {
	out, err := listTenants(ctx, t.q)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return out, nil
}

// DeleteTenant removes the tenant and everything that hangs on it, in the
// caller's transaction.
func (t dirTx) DeleteTenant(ctx context.Context, tenantID string) error {
	q := t.q
	err := func() error {
		ok, err := Exists(ctx, q, `SELECT 1 FROM tenants WHERE id = ?`+t.s.db.ForUpdate(), tenantID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("tenant %q: %w", tenantID, store.ErrNotFound)
		}
		principals, err := scanAll(ctx, q, `SELECT app_id, object_id FROM applications WHERE tenant_id = ?`, []any{tenantID}, func(r Rows) ([2]string, error) {
			var p [2]string
			err := r.Scan(&p[0], &p[1])
			return p, err
		})
		if err != nil {
			return err
		}
		for _, p := range principals {
			if err := deleteRoleAssignmentsOf(ctx, q, p[0], p[1]); err != nil {
				return err
			}
			if err := changed(ctx, q, changeApplication, tenantID, p[0]); err != nil {
				return err
			}
		}
		if err := grantsChanged(ctx, q, `tenant_id = ?`, tenantID); err != nil {
			return err
		}
		if err := apisChanged(ctx, q, tenantID); err != nil {
			return err
		}
		if err := connectorsChanged(ctx, q, tenantID); err != nil {
			return err
		}
		if err := changed(ctx, q, changeTenant, tenantID, ""); err != nil {
			return err
		}
		for _, table := range []string{"grants", "identifier_uris", "app_roles", "password_credentials", "key_credentials", "federated_identity_credentials", "applications", "apis", "connectors", "signing_keys"} {
			if _, err := q.Exec(ctx, `DELETE FROM `+table+` WHERE tenant_id = ?`, tenantID); err != nil {
				return err
			}
		}
		_, err = q.Exec(ctx, `DELETE FROM tenants WHERE id = ?`, tenantID)
		return err
	}()
	if err != nil {
		return fmt.Errorf("delete tenant %q: %w", tenantID, err)
	}
	return nil
}

// deleteRoleAssignmentsOf removes the vault role assignments whose
// principal is the application with appID and objectID (in any case).
func deleteRoleAssignmentsOf(ctx context.Context, q Querier, appID, objectID string) error {
	_, err := q.Exec(ctx, `DELETE FROM vault_role_assignments WHERE lower(principal_id) IN (?, ?)`, key(appID), key(objectID))
	return err
}

func listTenants(ctx context.Context, q Querier) ([]directory.Tenant, error) {
	return scanAll(ctx, q, `SELECT id, name, created_at FROM tenants ORDER BY created_at, id`, nil, func(rows Rows) (directory.Tenant, error) {
		var t directory.Tenant
		err := rows.Scan(&t.ID, &t.Name, &t.CreatedAt)
		return t, err
	})
}

// normalizeApplication returns app as the store returns it: times in UTC to
// the microsecond, no nil slices.
func normalizeApplication(app directory.Application) directory.Application {
	app.CreatedAt = Time(app.CreatedAt)
	app.IdentifierURIs = append([]string{}, app.IdentifierURIs...)
	app.AppRoles = append([]directory.AppRole{}, app.AppRoles...)
	pcs := make([]directory.PasswordCredential, len(app.PasswordCredentials))
	for i, c := range app.PasswordCredentials {
		c.Hash = append([]byte{}, c.Hash...)
		c.StartAt, c.ExpiresAt, c.CreatedAt = Time(c.StartAt), Time(c.ExpiresAt), Time(c.CreatedAt)
		pcs[i] = c
	}
	app.PasswordCredentials = pcs
	kcs := make([]directory.KeyCredential, len(app.KeyCredentials))
	for i, c := range app.KeyCredentials {
		c.CertificateDER = append([]byte{}, c.CertificateDER...)
		c.NotBefore, c.NotAfter, c.CreatedAt = Time(c.NotBefore), Time(c.NotAfter), Time(c.CreatedAt)
		kcs[i] = c
	}
	app.KeyCredentials = kcs
	fics := make([]directory.FederatedIdentityCredential, len(app.FederatedIdentityCredentials))
	for i, c := range app.FederatedIdentityCredentials {
		c.Audiences = append([]string{}, c.Audiences...)
		if len(c.Keys) > 0 {
			c.Keys = append(json.RawMessage{}, c.Keys...)
		} else {
			c.Keys = nil
		}
		c.CreatedAt = Time(c.CreatedAt)
		fics[i] = c
	}
	app.FederatedIdentityCredentials = fics
	return app
}

// validateApplication checks what can be checked without the database:
// required ids and duplicates inside the application itself.
func validateApplication(what string, app directory.Application) error {
	if err := required(what, "tenant id", app.TenantID, "app id", app.AppID, "object id", app.ObjectID); err != nil {
		return err
	}
	uris := make(map[string]string)
	for _, u := range app.IdentifierURIs {
		if u == "" {
			return fmt.Errorf("%s: an identifier URI is empty", what)
		}
		if prev, dup := uris[key(u)]; dup {
			return fmt.Errorf("%s: identifier URI %q is listed twice (as %q): %w", what, u, prev, store.ErrConflict)
		}
		uris[key(u)] = u
	}
	if err := uniqueIDs(what, "an app role id", "app role id", app.AppRoles, func(r directory.AppRole) string { return r.ID }, map[string]bool{}); err != nil {
		return err
	}
	creds := make(map[string]bool)
	if err := uniqueIDs(what, "a password credential id", "credential id", app.PasswordCredentials, func(c directory.PasswordCredential) string { return c.ID }, creds); err != nil {
		return err
	}
	if err := uniqueIDs(what, "a key credential id", "credential id", app.KeyCredentials, func(c directory.KeyCredential) string { return c.ID }, creds); err != nil {
		return err
	}
	if err := uniqueIDs(what, "a federated identity credential id", "credential id", app.FederatedIdentityCredentials, func(c directory.FederatedIdentityCredential) string { return c.ID }, creds); err != nil {
		return err
	}
	return uniqueIDs(what, "a federated identity credential name", "federated identity credential name", app.FederatedIdentityCredentials, func(c directory.FederatedIdentityCredential) string { return key(c.Name) }, map[string]bool{})
}

// uniqueIDs checks that the id of every item is set and not in seen,
// adding it to seen; empty and listed name the ids in the errors, e.g. "an
// app role id" and "app role id".
func uniqueIDs[T any](what, empty, listed string, items []T, id func(T) string, seen map[string]bool) error {
	for _, item := range items {
		v := id(item)
		if v == "" {
			return fmt.Errorf("%s: %s is empty", what, empty)
		}
		if seen[v] {
			return fmt.Errorf("%s: %s %q is listed twice: %w", what, listed, v, store.ErrConflict)
		}
		seen[v] = true
	}
	return nil
}

// checkApplicationUnique enforces the tenant-wide uniqueness of identifier
// URIs and display names against every other application.
func checkApplicationUnique(ctx context.Context, q Querier, app directory.Application) error {
	for _, u := range app.IdentifierURIs {
		var other string
		found, err := QueryOne(ctx, q, `SELECT app_id FROM identifier_uris WHERE tenant_id = ? AND uri_key = ? AND app_id <> ?`,
			[]any{app.TenantID, key(u), app.AppID}, &other)
		if err != nil {
			return err
		}
		if found {
			return fmt.Errorf("identifier URI %q is used by application %s: %w", u, other, store.ErrConflict)
		}
	}
	var other string
	found, err := QueryOne(ctx, q, `SELECT app_id FROM applications WHERE tenant_id = ? AND display_name_key = ? AND app_id <> ?`,
		[]any{app.TenantID, key(app.DisplayName), app.AppID}, &other)
	if err != nil {
		return err
	}
	if found {
		return fmt.Errorf("display name %q is used by application %s: %w", app.DisplayName, other, store.ErrConflict)
	}
	return nil
}

// insertApplicationParts writes what an application holds besides its own
// row: identifier URIs, app roles and credentials, each with its position.
func insertApplicationParts(ctx context.Context, q Querier, app directory.Application) error {
	for i, u := range app.IdentifierURIs {
		if _, err := q.Exec(ctx, `INSERT INTO identifier_uris (tenant_id, app_id, position, uri, uri_key) VALUES (?, ?, ?, ?, ?)`,
			app.TenantID, app.AppID, int64(i), u, key(u)); err != nil {
			return err
		}
	}
	for i, r := range app.AppRoles {
		if _, err := q.Exec(ctx, `INSERT INTO app_roles (tenant_id, app_id, position, id, value, display_name, description, enabled) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			app.TenantID, app.AppID, int64(i), r.ID, r.Value, r.DisplayName, r.Description, r.Enabled); err != nil {
			return err
		}
	}
	for i, c := range app.PasswordCredentials {
		if _, err := q.Exec(ctx, `INSERT INTO password_credentials (tenant_id, app_id, position, id, hint, description, hash, start_at, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			app.TenantID, app.AppID, int64(i), c.ID, c.Hint, c.Description, Bytes(c.Hash), c.StartAt, c.ExpiresAt, c.CreatedAt); err != nil {
			return err
		}
	}
	for i, c := range app.KeyCredentials {
		if _, err := q.Exec(ctx, `INSERT INTO key_credentials (tenant_id, app_id, position, id, description, certificate_der, thumbprint_sha1, thumbprint_s256, subject, not_before, not_after, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			app.TenantID, app.AppID, int64(i), c.ID, c.Description, Bytes(c.CertificateDER), c.ThumbprintSHA1, c.ThumbprintS256, c.Subject, c.NotBefore, c.NotAfter, c.CreatedAt); err != nil {
			return err
		}
	}
	for i, c := range app.FederatedIdentityCredentials {
		audiences, err := json.Marshal(c.Audiences)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `INSERT INTO federated_identity_credentials (tenant_id, app_id, position, id, name, issuer, subject, audiences, description, jwks_uri, jwks, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			app.TenantID, app.AppID, int64(i), c.ID, c.Name, c.Issuer, c.Subject, string(audiences), c.Description, c.JWKSURI, string(c.Keys), c.CreatedAt); err != nil {
			return err
		}
	}
	return nil
}

// deleteApplicationParts removes what insertApplicationParts wrote.
func deleteApplicationParts(ctx context.Context, q Querier, tenantID, appID string) error {
	for _, table := range []string{"identifier_uris", "app_roles", "password_credentials", "key_credentials", "federated_identity_credentials"} {
		if _, err := q.Exec(ctx, `DELETE FROM `+table+` WHERE tenant_id = ? AND app_id = ?`, tenantID, appID); err != nil {
			return err
		}
	}
	return nil
}

// CreateApplication adds an application with everything it holds.
func (t dirTx) CreateApplication(ctx context.Context, app directory.Application) error {
	what := fmt.Sprintf("create application %q", app.DisplayName)
	if err := validateApplication(what, app); err != nil {
		return err
	}
	app = normalizeApplication(app)
	q := t.q
	err := func() error {
		if err := tenantExists(ctx, q, app.TenantID); err != nil {
			return err
		}
		ok, err := Exists(ctx, q, `SELECT 1 FROM applications WHERE tenant_id = ? AND app_id = ?`, app.TenantID, app.AppID)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("application id %q exists in tenant %s: %w", app.AppID, app.TenantID, store.ErrConflict)
		}
		var other string
		found, err := QueryOne(ctx, q, `SELECT app_id FROM applications WHERE tenant_id = ? AND object_id = ?`, []any{app.TenantID, app.ObjectID}, &other)
		if err != nil {
			return err
		}
		if found {
			return fmt.Errorf("object id %q is used by application %s: %w", app.ObjectID, other, store.ErrConflict)
		}
		if err := checkApplicationUnique(ctx, q, app); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `INSERT INTO applications (tenant_id, app_id, object_id, display_name, display_name_key, access_token_lifetime, require_certificate_bound_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			app.TenantID, app.AppID, app.ObjectID, app.DisplayName, key(app.DisplayName), int64(app.AccessTokenLifetime), app.RequireCertificateBoundTokens, app.CreatedAt); err != nil {
			return err
		}
		if err := changed(ctx, q, changeApplication, app.TenantID, app.AppID); err != nil {
			return err
		}
		return insertApplicationParts(ctx, q, app)
	}()
	return t.s.writeError(what, err)
}

// GetApplication returns one application with credentials.
func (t dirTx) GetApplication(ctx context.Context, tenantID, appID string) (directory.Application, error) {
	apps, err := loadApplications(ctx, t.q, "tenant_id = ? AND app_id = ?", tenantID, appID)
	if err != nil {
		return directory.Application{}, fmt.Errorf("get application %q: %w", appID, err)
	}
	if len(apps) == 0 {
		return directory.Application{}, fmt.Errorf("application %q in tenant %q: %w", appID, tenantID, store.ErrNotFound)
	}
	return apps[0], nil
}

// ListApplications returns the tenant's applications ordered by creation
// time, then app id; an unknown tenant has none.
func (t dirTx) ListApplications(ctx context.Context, tenantID string) ([]directory.Application, error) {
	apps, err := loadApplications(ctx, t.q, "tenant_id = ?", tenantID)
	if err != nil {
		return nil, fmt.Errorf("list applications of tenant %q: %w", tenantID, err)
	}
	return apps, nil
}

// FindApplications returns the tenant's applications whose display name
// or one of whose identifier URIs matches q, through the key indexes.
func (t dirTx) FindApplications(ctx context.Context, tenantID string, aq directory.ApplicationQuery) ([]directory.Application, error) {
	// One indexed lookup per condition (an OR across them would scan the
	// tenant's applications).
	var selects []string
	var args []any
	if aq.DisplayName != "" {
		selects = append(selects, `SELECT app_id FROM applications WHERE tenant_id = ? AND display_name_key = ?`)
		args = append(args, tenantID, key(aq.DisplayName))
	}
	for _, u := range aq.IdentifierURIs {
		selects = append(selects, `SELECT app_id FROM identifier_uris WHERE tenant_id = ? AND uri_key = ?`)
		args = append(args, tenantID, key(u))
	}
	if len(selects) == 0 {
		return []directory.Application{}, nil
	}
	ids, err := scanAll(ctx, t.q, strings.Join(selects, ` UNION `), args, func(r Rows) (string, error) {
		var id string
		err := r.Scan(&id)
		return id, err
	})
	if err != nil {
		return nil, fmt.Errorf("find applications of tenant %q: %w", tenantID, err)
	}
	if len(ids) == 0 {
		return []directory.Application{}, nil
	}
	where := `tenant_id = ? AND app_id IN (?` + strings.Repeat(`, ?`, len(ids)-1) + `)`
	wargs := []any{tenantID}
	for _, id := range ids {
		wargs = append(wargs, id)
	}
	apps, err := loadApplications(ctx, t.q, where, wargs...)
	if err != nil {
		return nil, fmt.Errorf("find applications of tenant %q: %w", tenantID, err)
	}
	return apps, nil
}

// loadApplications reads the applications matching where (a condition on
// tenant_id and app_id, which every application table has) with all they
// hold, ordered by creation time, then app id, then tenant id.
func loadApplications(ctx context.Context, q Querier, where string, args ...any) ([]directory.Application, error) {
	if where == "" {
		where = "1 = 1"
	}
	rows, err := q.Query(ctx, `SELECT tenant_id, app_id, object_id, display_name, access_token_lifetime, require_certificate_bound_tokens, created_at FROM applications WHERE `+where+` ORDER BY created_at, app_id, tenant_id`, args...)
	if err != nil {
		return nil, err
	}
	apps := []directory.Application{}
	index := make(map[[2]string]int)
	for rows.Next() {
		var a directory.Application
		var lifetime int64
		if err := rows.Scan(&a.TenantID, &a.AppID, &a.ObjectID, &a.DisplayName, &lifetime, &a.RequireCertificateBoundTokens, &a.CreatedAt); err != nil {
			rows.Close()
			return nil, err
		}
		a.AccessTokenLifetime = time.Duration(lifetime)
		a.IdentifierURIs = []string{}
		a.AppRoles = []directory.AppRole{}
		a.PasswordCredentials = []directory.PasswordCredential{}
		a.KeyCredentials = []directory.KeyCredential{}
		a.FederatedIdentityCredentials = []directory.FederatedIdentityCredential{}
		index[[2]string{a.TenantID, a.AppID}] = len(apps)
		apps = append(apps, a)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, err
	}
	rows.Close()
	if len(apps) == 0 {
		return apps, nil
	}

	// Each part is read in position order and appended to its application.
	type addFunc func(*directory.Application)
	parts := []struct {
		query string
		scan  func(r Rows, k *[2]string) (addFunc, error)
	}{
		{`SELECT tenant_id, app_id, uri FROM identifier_uris`, func(r Rows, k *[2]string) (addFunc, error) {
			var u string
			err := r.Scan(&k[0], &k[1], &u)
			return func(a *directory.Application) { a.IdentifierURIs = append(a.IdentifierURIs, u) }, err
		}},
		{`SELECT tenant_id, app_id, id, value, display_name, description, enabled FROM app_roles`, func(r Rows, k *[2]string) (addFunc, error) {
			var x directory.AppRole
			err := r.Scan(&k[0], &k[1], &x.ID, &x.Value, &x.DisplayName, &x.Description, &x.Enabled)
			return func(a *directory.Application) { a.AppRoles = append(a.AppRoles, x) }, err
		}},
		{`SELECT tenant_id, app_id, id, hint, description, hash, start_at, expires_at, created_at FROM password_credentials`, func(r Rows, k *[2]string) (addFunc, error) {
			var x directory.PasswordCredential
			err := r.Scan(&k[0], &k[1], &x.ID, &x.Hint, &x.Description, &x.Hash, &x.StartAt, &x.ExpiresAt, &x.CreatedAt)
			x.Hash = Bytes(x.Hash)
			return func(a *directory.Application) { a.PasswordCredentials = append(a.PasswordCredentials, x) }, err
		}},
		{`SELECT tenant_id, app_id, id, description, certificate_der, thumbprint_sha1, thumbprint_s256, subject, not_before, not_after, created_at FROM key_credentials`, func(r Rows, k *[2]string) (addFunc, error) {
			var x directory.KeyCredential
			err := r.Scan(&k[0], &k[1], &x.ID, &x.Description, &x.CertificateDER, &x.ThumbprintSHA1, &x.ThumbprintS256, &x.Subject, &x.NotBefore, &x.NotAfter, &x.CreatedAt)
			x.CertificateDER = Bytes(x.CertificateDER)
			return func(a *directory.Application) { a.KeyCredentials = append(a.KeyCredentials, x) }, err
		}},
		{`SELECT tenant_id, app_id, id, name, issuer, subject, audiences, description, jwks_uri, jwks, created_at FROM federated_identity_credentials`, func(r Rows, k *[2]string) (addFunc, error) {
			var x directory.FederatedIdentityCredential
			var audiences, jwks string
			if err := r.Scan(&k[0], &k[1], &x.ID, &x.Name, &x.Issuer, &x.Subject, &audiences, &x.Description, &x.JWKSURI, &jwks, &x.CreatedAt); err != nil {
				return nil, err
			}
			if err := json.Unmarshal([]byte(audiences), &x.Audiences); err != nil {
				return nil, fmt.Errorf("federated identity credential %s: audiences: %w", x.ID, err)
			}
			if jwks != "" {
				x.Keys = json.RawMessage(jwks)
			}
			return func(a *directory.Application) {
				a.FederatedIdentityCredentials = append(a.FederatedIdentityCredentials, x)
			}, nil
		}},
	}
	for _, p := range parts {
		rows, err := q.Query(ctx, p.query+` WHERE `+where+` ORDER BY tenant_id, app_id, position`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k [2]string
			add, err := p.scan(rows, &k)
			if err != nil {
				rows.Close()
				return nil, err
			}
			// Every part belongs to an application read above: the reads
			// share one transaction and parts cascade with their application.
			if i, ok := index[k]; ok {
				add(&apps[i])
			}
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, err
		}
		rows.Close()
	}
	return apps, nil
}

// UpdateApplication loads the application, calls mutate on it and writes the
// result back. The application's row is locked first, and the transaction
// holds the revision lock, so concurrent updates are serialised and none is
// lost.
func (t dirTx) UpdateApplication(ctx context.Context, tenantID, appID string, mutate func(*directory.Application) error) (directory.Application, error) {
	what := fmt.Sprintf("update application %q", appID)
	var out directory.Application
	var mutateErr error
	q := t.q
	err := func() error {
		ok, err := Exists(ctx, q, `SELECT 1 FROM applications WHERE tenant_id = ? AND app_id = ?`+t.s.db.ForUpdate(), tenantID, appID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("application %q in tenant %q: %w", appID, tenantID, store.ErrNotFound)
		}
		apps, err := loadApplications(ctx, q, "tenant_id = ? AND app_id = ?", tenantID, appID)
		if err != nil {
			return err
		}
		if len(apps) != 1 {
			return fmt.Errorf("application %q in tenant %q: %w", appID, tenantID, store.ErrNotFound)
		}
		old := apps[0]
		app := old
		if err := mutate(&app); err != nil {
			mutateErr = err
			return err
		}
		if app.TenantID != old.TenantID || app.AppID != old.AppID || app.ObjectID != old.ObjectID {
			return fmt.Errorf("the tenant id, app id and object id of an application cannot be changed (asked to change %s/%s/%s to %s/%s/%s)",
				old.TenantID, old.AppID, old.ObjectID, app.TenantID, app.AppID, app.ObjectID)
		}
		if err := validateApplication(what, app); err != nil {
			return err
		}
		app = normalizeApplication(app)
		if err := checkApplicationUnique(ctx, q, app); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `UPDATE applications SET display_name = ?, display_name_key = ?, access_token_lifetime = ?, require_certificate_bound_tokens = ?, created_at = ? WHERE tenant_id = ? AND app_id = ?`,
			app.DisplayName, key(app.DisplayName), int64(app.AccessTokenLifetime), app.RequireCertificateBoundTokens, app.CreatedAt, tenantID, appID); err != nil {
			return err
		}
		if err := deleteApplicationParts(ctx, q, tenantID, appID); err != nil {
			return err
		}
		if err := insertApplicationParts(ctx, q, app); err != nil {
			return err
		}
		if err := changed(ctx, q, changeApplication, tenantID, appID); err != nil {
			return err
		}
		out = app
		return nil
	}()
	switch {
	case err == nil:
		return out, nil
	case mutateErr != nil && err == mutateErr:
		return directory.Application{}, err // as is, per the Store contract
	}
	return directory.Application{}, t.s.writeError(what, err)
}

// DeleteApplication removes the application, what it holds, every grant
// in which it is the client or the resource, and the vault role
// assignments whose principal is its app id or object id: all that hangs
// on it goes in the same transaction.
func (t dirTx) DeleteApplication(ctx context.Context, tenantID, appID string) error {
	q := t.q
	err := func() error {
		var objectID string
		found, err := QueryOne(ctx, q, `SELECT object_id FROM applications WHERE tenant_id = ? AND app_id = ?`+t.s.db.ForUpdate(), []any{tenantID, appID}, &objectID)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("application %q in tenant %q: %w", appID, tenantID, store.ErrNotFound)
		}
		if err := grantsChanged(ctx, q, `tenant_id = ? AND (client_app_id = ? OR resource_app_id = ?)`, tenantID, appID, appID); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `DELETE FROM grants WHERE tenant_id = ? AND (client_app_id = ? OR resource_app_id = ?)`, tenantID, appID, appID); err != nil {
			return err
		}
		if err := changed(ctx, q, changeApplication, tenantID, appID); err != nil {
			return err
		}
		if err := deleteRoleAssignmentsOf(ctx, q, appID, objectID); err != nil {
			return err
		}
		if err := deleteApplicationParts(ctx, q, tenantID, appID); err != nil {
			return err
		}
		_, err = q.Exec(ctx, `DELETE FROM applications WHERE tenant_id = ? AND app_id = ?`, tenantID, appID)
		return err
	}()
	if err != nil {
		return fmt.Errorf("delete application %q: %w", appID, err)
	}
	return nil
}
