package sqlite

import "github.com/portcullis/portcullis/internal/store/sqlstore"

// Times are INTEGER microseconds since the Unix epoch (UTC); names and URIs
// compared case-insensitively have a *_key column holding the lower-cased
// value (the same folding directory.Snapshot uses) under a unique index.

func init() {
	migrations.Register(sqlstore.ComponentCore,
		// version 1: the global revision and the leases.
		`CREATE TABLE revision (
	id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	value INTEGER NOT NULL
);
INSERT INTO revision (id, value) VALUES (1, 0);
CREATE TABLE leases (
	name TEXT NOT NULL PRIMARY KEY,
	holder TEXT NOT NULL,
	expires_at INTEGER NOT NULL
);`,
	)

	migrations.Register(sqlstore.ComponentDirectory,
		// version 1: tenants, applications and what they hold, grants,
		// signing keys.
		`CREATE TABLE tenants (
	id TEXT NOT NULL PRIMARY KEY,
	name TEXT NOT NULL,
	name_key TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);
CREATE TABLE applications (
	tenant_id TEXT NOT NULL REFERENCES tenants (id),
	app_id TEXT NOT NULL,
	object_id TEXT NOT NULL,
	display_name TEXT NOT NULL,
	display_name_key TEXT NOT NULL,
	access_token_lifetime INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, app_id),
	UNIQUE (tenant_id, object_id),
	UNIQUE (tenant_id, display_name_key)
);
CREATE TABLE identifier_uris (
	tenant_id TEXT NOT NULL,
	app_id TEXT NOT NULL,
	position INTEGER NOT NULL,
	uri TEXT NOT NULL,
	uri_key TEXT NOT NULL,
	PRIMARY KEY (tenant_id, app_id, position),
	UNIQUE (tenant_id, uri_key),
	FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);
CREATE TABLE app_roles (
	tenant_id TEXT NOT NULL,
	app_id TEXT NOT NULL,
	position INTEGER NOT NULL,
	id TEXT NOT NULL,
	value TEXT NOT NULL,
	display_name TEXT NOT NULL,
	description TEXT NOT NULL,
	enabled INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, app_id, position),
	UNIQUE (tenant_id, app_id, id),
	FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);
CREATE TABLE password_credentials (
	tenant_id TEXT NOT NULL,
	app_id TEXT NOT NULL,
	position INTEGER NOT NULL,
	id TEXT NOT NULL,
	hint TEXT NOT NULL,
	description TEXT NOT NULL,
	hash BLOB NOT NULL,
	start_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, app_id, position),
	UNIQUE (tenant_id, app_id, id),
	FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);
CREATE TABLE key_credentials (
	tenant_id TEXT NOT NULL,
	app_id TEXT NOT NULL,
	position INTEGER NOT NULL,
	id TEXT NOT NULL,
	description TEXT NOT NULL,
	certificate_der BLOB NOT NULL,
	thumbprint_sha1 TEXT NOT NULL,
	thumbprint_s256 TEXT NOT NULL,
	subject TEXT NOT NULL,
	not_before INTEGER NOT NULL,
	not_after INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, app_id, position),
	UNIQUE (tenant_id, app_id, id),
	FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);
CREATE TABLE grants (
	tenant_id TEXT NOT NULL,
	id TEXT NOT NULL,
	client_app_id TEXT NOT NULL,
	resource_app_id TEXT NOT NULL,
	app_role_id TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, client_app_id, resource_app_id, app_role_id),
	FOREIGN KEY (tenant_id, client_app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, resource_app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);
CREATE INDEX grants_resource ON grants (tenant_id, resource_app_id);
CREATE TABLE signing_keys (
	tenant_id TEXT NOT NULL REFERENCES tenants (id),
	kid TEXT NOT NULL,
	algorithm TEXT NOT NULL,
	public_der BLOB NOT NULL,
	cert_der BLOB NOT NULL,
	sealed BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	activate_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, kid)
);`,
		// version 2: the directory change log (sqlstore.ChangesSince), so
		// that nodes rebuild their snapshots from what changed.
		`CREATE TABLE directory_changes (
	revision INTEGER NOT NULL,
	kind TEXT NOT NULL,
	tenant_id TEXT NOT NULL,
	object_id TEXT NOT NULL
);
CREATE INDEX directory_changes_revision ON directory_changes (revision);`,
		// version 3: gateway APIs, each a JSON document (directory.API)
		// with the revision of its last change.
		`CREATE TABLE apis (
	tenant_id TEXT NOT NULL REFERENCES tenants (id),
	name TEXT NOT NULL,
	document TEXT NOT NULL,
	revision INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, name)
);`,
		// version 4: API connectors, each a JSON document
		// (directory.Connector) with the revision of its last change.
		`CREATE TABLE connectors (
	tenant_id TEXT NOT NULL REFERENCES tenants (id),
	name TEXT NOT NULL,
	document TEXT NOT NULL,
	revision INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, name)
);`,
		// version 5: federated identity credentials of applications
		// (workload identity federation), in position order.
		`CREATE TABLE federated_identity_credentials (
	tenant_id TEXT NOT NULL,
	app_id TEXT NOT NULL,
	position INTEGER NOT NULL,
	id TEXT NOT NULL,
	name TEXT NOT NULL,
	issuer TEXT NOT NULL,
	subject TEXT NOT NULL,
	audiences TEXT NOT NULL,
	description TEXT NOT NULL,
	jwks_uri TEXT NOT NULL,
	jwks TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, app_id, position),
	UNIQUE (tenant_id, app_id, id),
	FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);`,
		// version 6: whether an application, as a resource, takes only
		// certificate-bound access tokens (RFC 8705).
		`ALTER TABLE applications ADD COLUMN require_certificate_bound_tokens INTEGER NOT NULL DEFAULT 0;`,
	)
}
