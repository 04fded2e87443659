package postgres

import "github.com/portcullis/portcullis/internal/store/sqlstore"

// The vault's tables (package sqlstore's vault.go describes them). Unset
// times are the zero instant, nil byte slices are NULL, tags are a JSON
// object (or null) kept as text, so that it reads back byte for byte. Seqs
// are identity columns; version seqs are drawn after the revision row lock,
// hence in commit order. The audit log refuses updates.

func init() {
	migrations.Register(sqlstore.ComponentVault,
		// version 1: vaults, objects, versions, role assignments,
		// references, the audit log and lifetime-action markers.
		`CREATE TABLE vault_vaults (
	name_key TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	name TEXT COLLATE "C" NOT NULL,
	soft_delete_retention_days BIGINT NOT NULL,
	purge_protection BOOLEAN NOT NULL,
	created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE vault_objects (
	vault_key TEXT COLLATE "C" NOT NULL REFERENCES vault_vaults (name_key),
	type TEXT COLLATE "C" NOT NULL CHECK (type IN ('secrets', 'keys', 'certificates')),
	name_key TEXT COLLATE "C" NOT NULL,
	vault TEXT COLLATE "C" NOT NULL,
	name TEXT COLLATE "C" NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	deleted BOOLEAN NOT NULL,
	deleted_at TIMESTAMPTZ NOT NULL,
	scheduled_purge_at TIMESTAMPTZ NOT NULL,
	recovery_id TEXT COLLATE "C" NOT NULL,
	policy BYTEA,
	PRIMARY KEY (vault_key, type, name_key)
);
CREATE INDEX vault_objects_listing ON vault_objects (vault_key, type, deleted, name_key);
CREATE TABLE vault_versions (
	seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	vault_key TEXT COLLATE "C" NOT NULL,
	type TEXT COLLATE "C" NOT NULL,
	name_key TEXT COLLATE "C" NOT NULL,
	version TEXT COLLATE "C" NOT NULL,
	vault TEXT COLLATE "C" NOT NULL,
	name TEXT COLLATE "C" NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL,
	enabled BOOLEAN NOT NULL,
	not_before TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL,
	content_type TEXT COLLATE "C" NOT NULL,
	tags TEXT COLLATE "C" NOT NULL,
	sealed BYTEA,
	public BYTEA,
	meta BYTEA,
	UNIQUE (vault_key, type, name_key, version),
	FOREIGN KEY (vault_key, type, name_key) REFERENCES vault_objects (vault_key, type, name_key)
);
CREATE INDEX vault_versions_object ON vault_versions (vault_key, type, name_key, seq);
CREATE TABLE vault_role_assignments (
	seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id TEXT COLLATE "C" NOT NULL UNIQUE,
	vault_key TEXT COLLATE "C" NOT NULL REFERENCES vault_vaults (name_key),
	vault TEXT COLLATE "C" NOT NULL,
	scope TEXT COLLATE "C" NOT NULL,
	scope_key TEXT COLLATE "C" NOT NULL,
	principal_id TEXT COLLATE "C" NOT NULL,
	role TEXT COLLATE "C" NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	UNIQUE (vault_key, scope_key, principal_id, role)
);
CREATE INDEX vault_role_assignments_principal ON vault_role_assignments (vault_key, principal_id, seq);
CREATE TABLE vault_references (
	seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	vault_key TEXT COLLATE "C" NOT NULL,
	type TEXT COLLATE "C" NOT NULL,
	name_key TEXT COLLATE "C" NOT NULL,
	version TEXT COLLATE "C" NOT NULL,
	referrer TEXT COLLATE "C" NOT NULL,
	vault TEXT COLLATE "C" NOT NULL,
	name TEXT COLLATE "C" NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	UNIQUE (vault_key, type, name_key, version, referrer)
);
CREATE INDEX vault_references_object ON vault_references (vault_key, type, name_key, seq);
CREATE TABLE vault_audit (
	seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at TIMESTAMPTZ NOT NULL,
	request_id TEXT COLLATE "C" NOT NULL,
	tenant_id TEXT COLLATE "C" NOT NULL,
	app_id TEXT COLLATE "C" NOT NULL,
	object_id TEXT COLLATE "C" NOT NULL,
	vault TEXT COLLATE "C" NOT NULL,
	vault_key TEXT COLLATE "C" NOT NULL,
	type TEXT COLLATE "C" NOT NULL,
	name TEXT COLLATE "C" NOT NULL,
	version TEXT COLLATE "C" NOT NULL,
	operation TEXT COLLATE "C" NOT NULL,
	outcome TEXT COLLATE "C" NOT NULL,
	code TEXT COLLATE "C" NOT NULL
);
CREATE INDEX vault_audit_vault ON vault_audit (vault_key, seq);
CREATE FUNCTION vault_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
	RAISE EXCEPTION 'vault_audit is append-only';
END
$fn$;
CREATE TRIGGER vault_audit_append_only BEFORE UPDATE ON vault_audit
	FOR EACH ROW EXECUTE FUNCTION vault_audit_append_only();
CREATE TABLE vault_lifetime_markers (
	vault_key TEXT COLLATE "C" NOT NULL,
	name_key TEXT COLLATE "C" NOT NULL,
	version TEXT COLLATE "C" NOT NULL,
	action TEXT COLLATE "C" NOT NULL,
	trigger_spec TEXT COLLATE "C" NOT NULL,
	vault TEXT COLLATE "C" NOT NULL,
	name TEXT COLLATE "C" NOT NULL,
	fired_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (vault_key, name_key, version, action, trigger_spec)
);`,
		// version 2: why a request was refused before any operation.
		`ALTER TABLE vault_audit ADD COLUMN reason TEXT COLLATE "C" NOT NULL DEFAULT '';`,
		// version 3: per-vault settings (certificate issuers and contacts).
		`CREATE TABLE vault_settings (
	vault_key TEXT COLLATE "C" NOT NULL REFERENCES vault_vaults (name_key),
	kind TEXT COLLATE "C" NOT NULL,
	name_key TEXT COLLATE "C" NOT NULL,
	vault TEXT COLLATE "C" NOT NULL,
	name TEXT COLLATE "C" NOT NULL,
	body BYTEA NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (vault_key, kind, name_key)
);`,
		// version 4: each audit record's identity (audit.Record.ID), so
		// that a record written again (a retried or replayed batch whose
		// commit happened although it reported an error) is stored once.
		// Rows written before have none (NULL): the index is partial, so
		// they need no rewrite of the log (which refuses updates) and the
		// index holds only records that have an ID.
		`ALTER TABLE vault_audit ADD COLUMN record_id TEXT COLLATE "C";
CREATE UNIQUE INDEX vault_audit_record_id ON vault_audit (record_id) WHERE record_id IS NOT NULL;`,
	)
}
