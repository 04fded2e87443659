package postgres

import "github.com/portcullis/portcullis/internal/store/sqlstore"

// The audit log's own table (its records live in vault_audit, see package
// sqlstore's auditlog.go): how far each consumer (the shipper) has read.

func init() {
	migrations.Register(sqlstore.ComponentAudit,
		// version 1: the shipped-up-to cursors.
		`CREATE TABLE audit_cursors (
	name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	seq BIGINT NOT NULL
);`,
	)
}
