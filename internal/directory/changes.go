package directory

// Changes are the directory objects that changed after one revision, each as
// it is at Revision: nil where the object no longer exists. An object
// appears at most once per list. Snapshot.Apply derives the snapshot at
// Revision from the snapshot at the earlier revision.
type Changes struct {
	Revision     int64
	Tenants      []ChangedTenant
	Applications []ChangedApplication
	Grants       []ChangedGrant
	APIs         []ChangedAPI
	Connectors   []ChangedConnector
}

// Len is the number of changed objects.
func (c Changes) Len() int {
	return len(c.Tenants) + len(c.Applications) + len(c.Grants) + len(c.APIs) + len(c.Connectors)
}

// ChangedTenant is a tenant as it is now; Tenant is nil when it was deleted.
type ChangedTenant struct {
	ID     string
	Tenant *Tenant
}

// ChangedApplication is an application (with its credentials) as it is now;
// Application is nil when it was deleted.
type ChangedApplication struct {
	TenantID    string
	AppID       string
	Application *Application
}

// ChangedGrant is a grant as it is now; Grant is nil when it was deleted.
type ChangedGrant struct {
	TenantID string
	ID       string
	Grant    *Grant
}

// ChangedAPI is an API as it is now; API is nil when it was deleted.
type ChangedAPI struct {
	TenantID string
	Name     string
	API      *API
}

// ChangedConnector is a connector as it is now; Connector is nil when it
// was deleted.
type ChangedConnector struct {
	TenantID  string
	Name      string
	Connector *Connector
}
