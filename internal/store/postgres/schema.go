package postgres

import "github.com/portcullis/portcullis/internal/store/sqlstore"

// Times are TIMESTAMPTZ (microsecond precision); text is COLLATE "C" so
// that ORDER BY sorts by bytes exactly as SQLite does; names and URIs
// compared case-insensitively have a *_key column holding the value
// lower-cased by Go (the same folding directory.Snapshot uses, independent of
// the database's locale) under a unique index.

func init() {
	migrations.Register(sqlstore.ComponentCore,
		// version 1: the global revision and the leases.
		`CREATE TABLE revision (
	id BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
	value BIGINT NOT NULL
);
INSERT INTO revision (id, value) VALUES (1, 0);
CREATE TABLE leases (
	name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	holder TEXT COLLATE "C" NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);`,
	)

	migrations.Register(sqlstore.ComponentDirectory,
		// version 1: tenants, applications and what they hold, grants,
		// signing keys.
		`CREATE TABLE tenants (
	id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	name TEXT COLLATE "C" NOT NULL,
	name_key TEXT COLLATE "C" NOT NULL UNIQUE,
	created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE applications (
	tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
	app_id TEXT COLLATE "C" NOT NULL,
	object_id TEXT COLLATE "C" NOT NULL,
	display_name TEXT COLLATE "C" NOT NULL,
	display_name_key TEXT COLLATE "C" NOT NULL,
	access_token_lifetime BIGINT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant_id, app_id),
	UNIQUE (tenant_id, object_id),
	UNIQUE (tenant_id, display_name_key)
);
CREATE TABLE identifier_uris (
	tenant_id TEXT COLLATE "C" NOT NULL,
	app_id TEXT COLLATE "C" NOT NULL,
	position BIGINT NOT NULL,
	uri TEXT COLLATE "C" NOT NULL,
	uri_key TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (tenant_id, app_id, position),
	UNIQUE (tenant_id, uri_key),
	FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);
CREATE TABLE app_roles (
	tenant_id TEXT COLLATE "C" NOT NULL,
	app_id TEXT COLLATE "C" NOT NULL,
	position BIGINT NOT NULL,
	id TEXT COLLATE "C" NOT NULL,
	value TEXT COLLATE "C" NOT NULL,
	display_name TEXT COLLATE "C" NOT NULL,
	description TEXT COLLATE "C" NOT NULL,
	enabled BOOLEAN NOT NULL,
	PRIMARY KEY (tenant_id, app_id, position),
	UNIQUE (tenant_id, app_id, id),
	FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);
CREATE TABLE password_credentials (
	tenant_id TEXT COLLATE "C" NOT NULL,
	app_id TEXT COLLATE "C" NOT NULL,
	position BIGINT NOT NULL,
	id TEXT COLLATE "C" NOT NULL,
	hint TEXT COLLATE "C" NOT NULL,
	description TEXT COLLATE "C" NOT NULL,
	hash BYTEA NOT NULL,
	start_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant_id, app_id, position),
	UNIQUE (tenant_id, app_id, id),
	FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);
CREATE TABLE key_credentials (
	tenant_id TEXT COLLATE "C" NOT NULL,
	app_id TEXT COLLATE "C" NOT NULL,
	position BIGINT NOT NULL,
	id TEXT COLLATE "C" NOT NULL,
	description TEXT COLLATE "C" NOT NULL,
	certificate_der BYTEA NOT NULL,
	thumbprint_sha1 TEXT COLLATE "C" NOT NULL,
	thumbprint_s256 TEXT COLLATE "C" NOT NULL,
	subject TEXT COLLATE "C" NOT NULL,
	not_before TIMESTAMPTZ NOT NULL,
	not_after TIMESTAMPTZ NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant_id, app_id, position),
	UNIQUE (tenant_id, app_id, id),
	FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);
CREATE TABLE grants (
	tenant_id TEXT COLLATE "C" NOT NULL,
	id TEXT COLLATE "C" NOT NULL,
	client_app_id TEXT COLLATE "C" NOT NULL,
	resource_app_id TEXT COLLATE "C" NOT NULL,
	app_role_id TEXT COLLATE "C" NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, client_app_id, resource_app_id, app_role_id),
	FOREIGN KEY (tenant_id, client_app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, resource_app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);
CREATE INDEX grants_resource ON grants (tenant_id, resource_app_id);
CREATE TABLE signing_keys (
	tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
	kid TEXT COLLATE "C" NOT NULL,
	algorithm TEXT COLLATE "C" NOT NULL,
	public_der BYTEA NOT NULL,
	cert_der BYTEA NOT NULL,
	sealed BYTEA NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	activate_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant_id, kid)
);`,
		// version 2: the directory change log (sqlstore.ChangesSince), so
		// that nodes rebuild their snapshots from what changed.
		`CREATE TABLE directory_changes (
	revision BIGINT NOT NULL,
	kind TEXT COLLATE "C" NOT NULL,
	tenant_id TEXT COLLATE "C" NOT NULL,
	object_id TEXT COLLATE "C" NOT NULL
);
CREATE INDEX directory_changes_revision ON directory_changes (revision);`,
		// version 3: gateway APIs, each a JSON document (directory.API)
		// with the revision of its last change.
		`CREATE TABLE apis (
	tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
	name TEXT COLLATE "C" NOT NULL,
	document TEXT NOT NULL,
	revision BIGINT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant_id, name)
);`,
		// version 4: API connectors, each a JSON document
		// (directory.Connector) with the revision of its last change.
		`CREATE TABLE connectors (
	tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
	name TEXT COLLATE "C" NOT NULL,
	document TEXT NOT NULL,
	revision BIGINT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant_id, name)
);`,
		// version 5: federated identity credentials of applications
		// (workload identity federation), in position order.
		`CREATE TABLE federated_identity_credentials (
	tenant_id TEXT COLLATE "C" NOT NULL,
	app_id TEXT COLLATE "C" NOT NULL,
	position BIGINT NOT NULL,
	id TEXT COLLATE "C" NOT NULL,
	name TEXT COLLATE "C" NOT NULL,
	issuer TEXT COLLATE "C" NOT NULL,
	subject TEXT COLLATE "C" NOT NULL,
	audiences TEXT NOT NULL,
	description TEXT COLLATE "C" NOT NULL,
	jwks_uri TEXT COLLATE "C" NOT NULL,
	jwks TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant_id, app_id, position),
	UNIQUE (tenant_id, app_id, id),
	FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);`,
		// version 6: whether an application, as a resource, takes only
		// certificate-bound access tokens (RFC 8705).
		`ALTER TABLE applications ADD COLUMN require_certificate_bound_tokens BOOLEAN NOT NULL DEFAULT FALSE;`,
	)
}
