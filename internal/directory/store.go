package directory

import "context"

// Tx is the directory's storage as seen from inside one transaction: every
// read sees the writes made before it in the same transaction, and nothing
// is visible to others until the transaction commits. The same methods on
// Store run each in a transaction of its own.
//
// Errors wrap store.ErrNotFound or store.ErrConflict where the condition is
// one (an unknown id; a duplicate id, tenant name, identifier URI, display
// name or grant) and name the offending value. Names, identifier URIs and
// display names compare case-insensitively. Lists are ordered by creation
// time, then id; listing an unknown tenant gives an empty list.
type Tx interface {
	// CreateTenant adds a tenant; ErrConflict if the id or the name exists.
	CreateTenant(ctx context.Context, t Tenant) error
	// ListTenants returns all tenants.
	ListTenants(ctx context.Context) ([]Tenant, error)
	// DeleteTenant removes the tenant and everything that hangs on it: its
	// applications (as DeleteApplication does, vault role assignments
	// included), grants, APIs, connectors and signing keys.
	DeleteTenant(ctx context.Context, tenantID string) error

	// CreateApplication adds an application with everything it holds
	// (identifier URIs, app roles, credentials). ErrConflict if the app id
	// or object id exists, or an identifier URI or the display name is
	// used by another application of the tenant.
	CreateApplication(ctx context.Context, app Application) error
	// GetApplication returns one application, with credentials.
	GetApplication(ctx context.Context, tenantID, appID string) (Application, error)
	// ListApplications returns the tenant's applications.
	ListApplications(ctx context.Context, tenantID string) ([]Application, error)
	// FindApplications returns the tenant's applications that match q (any
	// of its conditions), without reading the others.
	FindApplications(ctx context.Context, tenantID string, q ApplicationQuery) ([]Application, error)
	// UpdateApplication loads the application, calls mutate on it and writes
	// the result back; concurrent updates are serialised and none is lost.
	// If mutate returns an error nothing is written and that error is
	// returned as is. TenantID, AppID and ObjectID cannot be changed.
	// Uniqueness is enforced as in CreateApplication.
	UpdateApplication(ctx context.Context, tenantID, appID string, mutate func(*Application) error) (Application, error)
	// DeleteApplication removes the application, its credentials, every
	// grant in which it is the client or the resource, and every vault role
	// assignment whose principal is its app id or object id.
	DeleteApplication(ctx context.Context, tenantID, appID string) error

	// CreateGrant records admin consent; both applications must exist.
	// ErrConflict if the id exists or the same client, resource and role
	// are granted already.
	CreateGrant(ctx context.Context, g Grant) error
	// ListGrants returns the tenant's grants.
	ListGrants(ctx context.Context, tenantID string) ([]Grant, error)
	// FindGrants returns the tenant's grants that match every non-empty
	// field of q.
	FindGrants(ctx context.Context, tenantID string, q GrantQuery) ([]Grant, error)
	// DeleteGrant removes one grant.
	DeleteGrant(ctx context.Context, tenantID, grantID string) error

	// CreateAPI adds an API to an existing tenant and returns it as
	// stored: Revision set to the revision of the transaction, times to
	// the store's precision. ErrConflict if the tenant has an API of that
	// name.
	CreateAPI(ctx context.Context, api API) (API, error)
	// GetAPI returns one API by its exact name.
	GetAPI(ctx context.Context, tenantID, name string) (API, error)
	// ListAPIs returns the tenant's APIs ordered by name.
	ListAPIs(ctx context.Context, tenantID string) ([]API, error)
	// ListAllAPIs returns the APIs of every tenant ordered by tenant id,
	// then name.
	ListAllAPIs(ctx context.Context) ([]API, error)
	// UpdateAPI replaces the API of the same tenant and name (CreatedAt
	// included) and returns it as stored, with the new Revision;
	// ErrNotFound if there is none.
	UpdateAPI(ctx context.Context, api API) (API, error)
	// DeleteAPI removes one API.
	DeleteAPI(ctx context.Context, tenantID, name string) error

	// CreateConnector adds a connector to an existing tenant and returns
	// it as stored: Revision set to the revision of the transaction, times
	// to the store's precision. ErrConflict if the tenant has a connector
	// of that name.
	CreateConnector(ctx context.Context, c Connector) (Connector, error)
	// GetConnector returns one connector by its exact name.
	GetConnector(ctx context.Context, tenantID, name string) (Connector, error)
	// ListConnectors returns the tenant's connectors ordered by name.
	ListConnectors(ctx context.Context, tenantID string) ([]Connector, error)
	// ListAllConnectors returns the connectors of every tenant ordered by
	// tenant id, then name.
	ListAllConnectors(ctx context.Context) ([]Connector, error)
	// UpdateConnector replaces the connector of the same tenant and name
	// (CreatedAt included) and returns it as stored, with the new
	// Revision; ErrNotFound if there is none.
	UpdateConnector(ctx context.Context, c Connector) (Connector, error)
	// DeleteConnector removes one connector.
	DeleteConnector(ctx context.Context, tenantID, name string) error
}

// Store is the directory's storage, defined here where it is consumed (the
// store adapters in internal/store implement it; storetest holds them to
// it). Each Tx method called on Store runs in its own transaction;
// UpdateDirectory runs several in one.
type Store interface {
	Tx
	// UpdateDirectory runs fn in one write transaction and commits when fn
	// returns nil; if fn fails nothing it wrote is kept and its error is
	// returned as is. Write transactions are serialised across every node
	// sharing the database: fn's reads see every committed write, and no
	// other write commits until fn's transaction ends. A rule that spans
	// rows (the last administrator, a role in use) is therefore checked and
	// acted on inside one fn, never in one call and acted on in the next.
	UpdateDirectory(ctx context.Context, fn func(Tx) error) error
}

// ApplicationQuery selects applications of a tenant: those whose display
// name is DisplayName or that hold one of IdentifierURIs (both compared
// case-insensitively). The zero query selects none.
type ApplicationQuery struct {
	DisplayName    string
	IdentifierURIs []string
}

// GrantQuery selects grants of a tenant by the fields that are set (ids
// compare exactly).
type GrantQuery struct {
	ID            string
	ClientAppID   string
	ResourceAppID string
	AppRoleID     string
}
