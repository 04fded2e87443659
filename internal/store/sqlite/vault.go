package sqlite

import "github.com/portcullis/portcullis/internal/store/sqlstore"

// The vault's tables (package sqlstore's vault.go describes them). Unset
// times are the zero instant, nil byte slices are NULL, tags are a JSON
// object (or null). The audit log refuses updates.

func init() {
	migrations.Register(sqlstore.ComponentVault,
		// version 1: vaults, objects, versions, role assignments,
		// references, the audit log and lifetime-action markers.
		`CREATE TABLE vault_vaults (
	name_key TEXT NOT NULL PRIMARY KEY,
	name TEXT NOT NULL,
	soft_delete_retention_days INTEGER NOT NULL,
	purge_protection INTEGER NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE TABLE vault_objects (
	vault_key TEXT NOT NULL REFERENCES vault_vaults (name_key),
	type TEXT NOT NULL CHECK (type IN ('secrets', 'keys', 'certificates')),
	name_key TEXT NOT NULL,
	vault TEXT NOT NULL,
	name TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	deleted INTEGER NOT NULL,
	deleted_at INTEGER NOT NULL,
	scheduled_purge_at INTEGER NOT NULL,
	recovery_id TEXT NOT NULL,
	policy BLOB,
	PRIMARY KEY (vault_key, type, name_key)
);
CREATE INDEX vault_objects_listing ON vault_objects (vault_key, type, deleted, name_key);
CREATE TABLE vault_versions (
	seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	vault_key TEXT NOT NULL,
	type TEXT NOT NULL,
	name_key TEXT NOT NULL,
	version TEXT NOT NULL,
	vault TEXT NOT NULL,
	name TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	enabled INTEGER NOT NULL,
	not_before INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	content_type TEXT NOT NULL,
	tags TEXT NOT NULL,
	sealed BLOB,
	public BLOB,
	meta BLOB,
	UNIQUE (vault_key, type, name_key, version),
	FOREIGN KEY (vault_key, type, name_key) REFERENCES vault_objects (vault_key, type, name_key)
);
CREATE INDEX vault_versions_object ON vault_versions (vault_key, type, name_key, seq);
CREATE TABLE vault_role_assignments (
	seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	id TEXT NOT NULL UNIQUE,
	vault_key TEXT NOT NULL REFERENCES vault_vaults (name_key),
	vault TEXT NOT NULL,
	scope TEXT NOT NULL,
	scope_key TEXT NOT NULL,
	principal_id TEXT NOT NULL,
	role TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (vault_key, scope_key, principal_id, role)
);
CREATE INDEX vault_role_assignments_principal ON vault_role_assignments (vault_key, principal_id, seq);
CREATE TABLE vault_references (
	seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	vault_key TEXT NOT NULL,
	type TEXT NOT NULL,
	name_key TEXT NOT NULL,
	version TEXT NOT NULL,
	referrer TEXT NOT NULL,
	vault TEXT NOT NULL,
	name TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (vault_key, type, name_key, version, referrer)
);
CREATE INDEX vault_references_object ON vault_references (vault_key, type, name_key, seq);
CREATE TABLE vault_audit (
	seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	at INTEGER NOT NULL,
	request_id TEXT NOT NULL,
	tenant_id TEXT NOT NULL,
	app_id TEXT NOT NULL,
	object_id TEXT NOT NULL,
	vault TEXT NOT NULL,
	vault_key TEXT NOT NULL,
	type TEXT NOT NULL,
	name TEXT NOT NULL,
	version TEXT NOT NULL,
	operation TEXT NOT NULL,
	outcome TEXT NOT NULL,
	code TEXT NOT NULL
);
CREATE INDEX vault_audit_vault ON vault_audit (vault_key, seq);
CREATE TRIGGER vault_audit_append_only BEFORE UPDATE ON vault_audit
BEGIN
	SELECT RAISE(ABORT, 'vault_audit is append-only');
END;
CREATE TABLE vault_lifetime_markers (
	vault_key TEXT NOT NULL,
	name_key TEXT NOT NULL,
	version TEXT NOT NULL,
	action TEXT NOT NULL,
	trigger_spec TEXT NOT NULL,
	vault TEXT NOT NULL,
	name TEXT NOT NULL,
	fired_at INTEGER NOT NULL,
	PRIMARY KEY (vault_key, name_key, version, action, trigger_spec)
);`,
		// version 2: why a request was refused before any operation.
		`ALTER TABLE vault_audit ADD COLUMN reason TEXT NOT NULL DEFAULT '';`,
		// version 3: per-vault settings (certificate issuers and contacts).
		`CREATE TABLE vault_settings (
	vault_key TEXT NOT NULL REFERENCES vault_vaults (name_key),
	kind TEXT NOT NULL,
	name_key TEXT NOT NULL,
	vault TEXT NOT NULL,
	name TEXT NOT NULL,
	body BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (vault_key, kind, name_key)
);`,
		// version 4: each audit record's identity (audit.Record.ID), so
		// that a record written again (a retried or replayed batch whose
		// commit happened although it reported an error) is stored once.
		// Rows written before have none (NULL): the index is partial, so
		// they need no rewrite of the log (which refuses updates) and the
		// index holds only records that have an ID.
		`ALTER TABLE vault_audit ADD COLUMN record_id TEXT;
CREATE UNIQUE INDEX vault_audit_record_id ON vault_audit (record_id) WHERE record_id IS NOT NULL;`,
	)
}
