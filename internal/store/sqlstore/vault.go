package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/vault"
)

// This file implements vault.Store once for both backends. Its tables, which
// each backend creates under component ComponentVault, are:
//
//	vault_vaults            one row per vault, keyed by the lower-cased name
//	vault_objects           one row per object (vault, type, lower-cased name)
//	vault_versions          the append-only versions; seq is the store-assigned Seq
//	vault_role_assignments  role assignments, in insertion order (seq)
//	vault_references        references to objects, in insertion order (seq)
//	vault_audit             the append-only audit log, newest = highest seq; one row
//	                        per record_id (audit.Record.ID; NULL in older rows)
//	vault_lifetime_markers  lifetime actions that fired
//	vault_settings          per-vault settings (certificate issuers, contacts)
//
// Names compare case-insensitively through *_key columns holding the name
// lower-cased by Go (as package vault folds them); the display columns keep
// the case the name was first written with. A zero NotBefore or Expires is
// stored as the zero instant (0001-01-01T00:00:00Z), which reads back as the
// zero time.Time. Nil byte slices (Sealed, Public, Meta, Policy) and nil tag
// maps are stored as NULL and JSON null, so what is written reads back the
// same, nil or empty.
//
// Writes that change vaults, objects, versions, assignments or references go
// through Store.Write: they increment the global revision, whose row lock
// serialises them on PostgreSQL too. That makes every read-modify-write
// (AddVersion's existence and uniqueness checks included) race-free, and it
// makes the order of version seqs the order of commits. Audit records and
// lifetime markers change nothing that a node caches, so they skip the
// revision: a vault read that appends an audit record must not make every
// node reload its directory.

// PreparedQuerier is an optional capability of a DB: running a read-only
// statement outside a transaction, like DB.Query, through a prepared
// statement it keeps for reuse. The vault's hot reads use it when the
// backend has it (SQLite, where parsing costs more than the lookup; pgx
// caches prepared statements by itself).
type PreparedQuerier interface {
	QueryPrepared(ctx context.Context, query string, args ...any) (Rows, error)
}

// queryHot runs a frequent read-only statement, prepared when the backend
// can keep it.
func (s *Store) queryHot(ctx context.Context, query string, args ...any) (Rows, error) {
	if p, ok := s.db.(PreparedQuerier); ok {
		return p.QueryPrepared(ctx, query, args...)
	}
	return s.db.Query(ctx, query, args...)
}

// ComponentVault names the vault's migrations.
const ComponentVault = "vault"

const vaultColumns = `name, soft_delete_retention_days, purge_protection, created_at`

// Each nullable blob is selected with a "not null" flag: drivers may read a
// zero-length blob as nil, and the flag tells it from NULL.
const objectColumns = `o.vault, o.type, o.name, o.created_at, o.deleted, o.deleted_at, o.scheduled_purge_at, o.recovery_id, o.policy, o.policy IS NOT NULL`

// versionColumns selects a version without its sealed blob; versionSealed
// with it.
const (
	versionColumns = `v.seq, v.vault, v.type, v.name, v.version, v.created_at, v.updated_at, v.enabled, v.not_before, v.expires_at, v.content_type, v.tags, v.public, v.public IS NOT NULL, v.meta, v.meta IS NOT NULL`
	versionSealed  = versionColumns + `, v.sealed, v.sealed IS NOT NULL`
)

// objectWhere selects one object (table alias o), versionWhere the versions
// of one object (alias v), by vault, type and name; objectArgs are their
// arguments.
const (
	objectWhere  = `o.vault_key = ? AND o.type = ? AND o.name_key = ?`
	versionWhere = `v.vault_key = ? AND v.type = ? AND v.name_key = ?`
)

func objectArgs(vaultName string, typ vault.ObjectType, name string) []any {
	return []any{key(vaultName), string(typ), key(name)}
}

// describeObject names an object in errors, e.g. `secret "db" in vault "default"`.
func describeObject(vaultName string, typ vault.ObjectType, name string) string {
	return fmt.Sprintf("%s %q in vault %q", strings.TrimSuffix(string(typ), "s"), name, vaultName)
}

// vaultError wraps err with what, mapping a constraint violation that
// slipped past the explicit checks to store.ErrConflict or store.ErrNotFound
// (the one set of sentinels every domain uses) through conflictFallback.
func (s *Store) vaultError(what string, err error) error {
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) || errors.Is(err, vault.ErrObjectDeleted) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return s.conflictFallback(what, err)
}

// callbackError marks an error returned by a mutate callback, so that it
// leaves the transaction unwrapped, as vault.Store promises.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// finish returns a callback's error as is and wraps anything else.
func (s *Store) finish(what string, err error) error {
	var cb callbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	if err != nil {
		return s.vaultError(what, err)
	}
	return nil
}

// Vaults.

// CreateVault adds a vault; store.ErrConflict if the name (compared
// case-insensitively) exists.
func (s *Store) CreateVault(ctx context.Context, v vault.Vault) error {
	what := fmt.Sprintf("create vault %q", v.Name)
	if v.Name == "" {
		return errors.New(what + ": the name is empty")
	}
	err := s.Write(ctx, func(q Querier) error {
		var other string
		found, err := QueryOne(ctx, q, `SELECT name FROM vault_vaults WHERE name_key = ?`, []any{key(v.Name)}, &other)
		if err != nil {
			return err
		}
		if found {
			return fmt.Errorf("vault %q exists: %w", other, store.ErrConflict)
		}
		_, err = q.Exec(ctx, `INSERT INTO vault_vaults (name_key, `+vaultColumns+`) VALUES (?, ?, ?, ?, ?)`,
			key(v.Name), v.Name, int64(v.SoftDeleteRetentionDays), v.PurgeProtection, Time(v.Created))
		return err
	})
	return s.finish(what, err)
}

func scanVault(rows Rows) (vault.Vault, error) {
	var v vault.Vault
	var days int64
	if err := rows.Scan(&v.Name, &days, &v.PurgeProtection, &v.Created); err != nil {
		return vault.Vault{}, err
	}
	v.SoftDeleteRetentionDays = int(days)
	return v, nil
}

func getVault(ctx context.Context, q Querier, name, lock string) (vault.Vault, error) {
	rows, err := q.Query(ctx, `SELECT `+vaultColumns+` FROM vault_vaults WHERE name_key = ?`+lock, key(name))
	if err != nil {
		return vault.Vault{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return vault.Vault{}, err
		}
		return vault.Vault{}, fmt.Errorf("vault %q: %w", name, store.ErrNotFound)
	}
	v, err := scanVault(rows)
	if err != nil {
		return vault.Vault{}, err
	}
	return v, rows.Close()
}

// GetVault returns a vault; store.ErrNotFound if absent.
func (s *Store) GetVault(ctx context.Context, name string) (vault.Vault, error) {
	v, err := readValue(ctx, s, func(q Querier) (vault.Vault, error) { return getVault(ctx, q, name, "") })
	if err != nil {
		return vault.Vault{}, s.vaultError("get vault", err)
	}
	return v, nil
}

// ListVaults returns all vaults ordered by case-folded name.
func (s *Store) ListVaults(ctx context.Context) ([]vault.Vault, error) {
	out, err := readValue(ctx, s, func(q Querier) ([]vault.Vault, error) {
		return scanAll(ctx, q, `SELECT `+vaultColumns+` FROM vault_vaults ORDER BY name_key`, nil, scanVault)
	})
	if err != nil {
		return nil, fmt.Errorf("list vaults: %w", err)
	}
	return out, nil
}

// UpdateVault loads the vault, calls mutate and writes the result back in
// one transaction; the name cannot change and mutate's error is returned as
// is.
func (s *Store) UpdateVault(ctx context.Context, name string, mutate func(*vault.Vault) error) (vault.Vault, error) {
	var out vault.Vault
	err := s.Write(ctx, func(q Querier) error {
		v, err := getVault(ctx, q, name, s.db.ForUpdate())
		if err != nil {
			return err
		}
		stored := v.Name
		if err := mutate(&v); err != nil {
			return callbackError{err}
		}
		v.Name = stored
		v.Created = Time(v.Created)
		if _, err := q.Exec(ctx, `UPDATE vault_vaults SET soft_delete_retention_days = ?, purge_protection = ?, created_at = ? WHERE name_key = ?`,
			int64(v.SoftDeleteRetentionDays), v.PurgeProtection, v.Created, key(name)); err != nil {
			return err
		}
		out = v
		return nil
	})
	if err := s.finish(fmt.Sprintf("update vault %q", name), err); err != nil {
		return vault.Vault{}, err
	}
	return out, nil
}

// DeleteVault removes an empty vault and its role assignments;
// store.ErrConflict while it holds objects, live or deleted.
func (s *Store) DeleteVault(ctx context.Context, name string) error {
	what := fmt.Sprintf("delete vault %q", name)
	err := s.Write(ctx, func(q Querier) error {
		if _, err := getVault(ctx, q, name, s.db.ForUpdate()); err != nil {
			return err
		}
		var n int64
		if _, err := QueryOne(ctx, q, `SELECT COUNT(*) FROM vault_objects WHERE vault_key = ?`, []any{key(name)}, &n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("the vault still holds %d objects (live or deleted); purge them first: %w", n, store.ErrConflict)
		}
		if _, err := q.Exec(ctx, `DELETE FROM vault_role_assignments WHERE vault_key = ?`, key(name)); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `DELETE FROM vault_settings WHERE vault_key = ?`, key(name)); err != nil {
			return err
		}
		_, err := q.Exec(ctx, `DELETE FROM vault_vaults WHERE name_key = ?`, key(name))
		return err
	})
	if err != nil && s.db.Constraint(err) == ForeignKeyViolation {
		// An object slipped in despite the check: the vault is not empty.
		return fmt.Errorf("%s: the vault still holds objects (one was added concurrently); purge them first: %w", what, store.ErrConflict)
	}
	return s.finish(what, err)
}

// Objects and versions.

// scanObject scans objectColumns.
func scanObject(rows Rows, dest *vault.Object, extra ...any) error {
	var typ, recoveryID string
	var deleted, hasPolicy bool
	var d vault.Deletion
	err := rows.Scan(append([]any{&dest.Vault, &typ, &dest.Name, &dest.Created, &deleted, &d.DeletedAt, &d.ScheduledPurgeAt, &recoveryID, &dest.Policy, &hasPolicy}, extra...)...)
	if err != nil {
		return err
	}
	dest.Type = vault.ObjectType(typ)
	dest.Policy = nullable(dest.Policy, hasPolicy)
	dest.Deleted = nil
	if deleted {
		d.RecoveryID = recoveryID
		dest.Deleted = &d
	}
	return nil
}

// versionDest returns the scan destinations of versionColumns (plus sealed
// when withSealed) and a function that completes v after the scan.
func versionDest(v *vault.ObjectVersion, withSealed bool) ([]any, func() error) {
	var typ, tags string
	var hasPublic, hasMeta, hasSealed bool
	dest := []any{&v.Seq, &v.Vault, &typ, &v.Name, &v.Version, &v.Created, &v.Updated, &v.Enabled, &v.NotBefore, &v.Expires, &v.ContentType, &tags, &v.Public, &hasPublic, &v.Meta, &hasMeta}
	if withSealed {
		dest = append(dest, &v.Sealed, &hasSealed)
	}
	return dest, func() error {
		v.Type = vault.ObjectType(typ)
		v.Public, v.Meta, v.Sealed = nullable(v.Public, hasPublic), nullable(v.Meta, hasMeta), nullable(v.Sealed, hasSealed)
		v.Tags = nil
		if err := json.Unmarshal([]byte(tags), &v.Tags); err != nil {
			return fmt.Errorf("decode the tags of version %s of %s %q: %w", v.Version, v.Type, v.Name, err)
		}
		return nil
	}
}

func scanVersions(rows Rows, withSealed bool) ([]vault.ObjectVersion, error) {
	defer rows.Close()
	out := []vault.ObjectVersion{}
	for rows.Next() {
		var v vault.ObjectVersion
		dest, done := versionDest(&v, withSealed)
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if err := done(); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

func encodeTags(tags map[string]string) (string, error) {
	b, err := json.Marshal(tags) // a nil map is "null"
	if err != nil {
		return "", fmt.Errorf("encode tags: %w", err)
	}
	return string(b), nil
}

// getObject reads one object, appending lock to the query;
// store.ErrNotFound if absent.
func getObject(ctx context.Context, q Querier, vaultName string, typ vault.ObjectType, name, lock string) (vault.Object, error) {
	rows, err := q.Query(ctx, `SELECT `+objectColumns+` FROM vault_objects o WHERE `+objectWhere+lock, objectArgs(vaultName, typ, name)...)
	if err != nil {
		return vault.Object{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return vault.Object{}, err
		}
		return vault.Object{}, fmt.Errorf("%s: %w", describeObject(vaultName, typ, name), store.ErrNotFound)
	}
	var o vault.Object
	if err := scanObject(rows, &o); err != nil {
		return vault.Object{}, err
	}
	return o, rows.Close()
}

func validType(typ vault.ObjectType) error {
	if !typ.Valid() {
		return fmt.Errorf("object type %q is not one of secrets, keys, certificates", typ)
	}
	return nil
}

// AddVersion inserts a version, creating its object if needed, and returns
// it with its Seq; see vault.Store for the errors.
func (s *Store) AddVersion(ctx context.Context, v vault.ObjectVersion, opts vault.AddOptions) (vault.ObjectVersion, error) {
	what := fmt.Sprintf("add version %s of %s", v.Version, describeObject(v.Vault, v.Type, v.Name))
	if err := validType(v.Type); err != nil {
		return vault.ObjectVersion{}, fmt.Errorf("%s: %w", what, err)
	}
	for _, t := range opts.Exclusive {
		if err := validType(t); err != nil {
			return vault.ObjectVersion{}, fmt.Errorf("%s: exclusive %w", what, err)
		}
	}
	// An unknown (or empty) vault name is store.ErrNotFound, found below.
	if err := required(what, "name", v.Name, "version", v.Version); err != nil {
		return vault.ObjectVersion{}, err
	}
	tags, err := encodeTags(v.Tags)
	if err != nil {
		return vault.ObjectVersion{}, fmt.Errorf("%s: %w", what, err)
	}
	v.Tags = cloneTags(v.Tags)
	v.Sealed, v.Public, v.Meta = cloneBytes(v.Sealed), cloneBytes(v.Public), cloneBytes(v.Meta)
	v.Created, v.Updated, v.NotBefore, v.Expires = Time(v.Created), Time(v.Updated), Time(v.NotBefore), Time(v.Expires)

	err = s.Write(ctx, func(q Querier) error {
		vlt, err := getVault(ctx, q, v.Vault, "")
		if err != nil {
			return err
		}
		for _, t := range opts.Exclusive {
			var other string
			found, err := QueryOne(ctx, q, `SELECT o.name FROM vault_objects o WHERE `+objectWhere, objectArgs(v.Vault, t, v.Name), &other)
			if err != nil {
				return err
			}
			if found {
				return fmt.Errorf("%s exists (live or deleted): %w", describeObject(vlt.Name, t, other), store.ErrConflict)
			}
		}
		obj, err := getObject(ctx, q, v.Vault, v.Type, v.Name, s.db.ForUpdate())
		switch {
		case errors.Is(err, store.ErrNotFound):
			obj = vault.Object{Vault: vlt.Name, Type: v.Type, Name: v.Name, Created: v.Created, Policy: cloneBytes(opts.Policy)}
			if _, err := q.Exec(ctx, `INSERT INTO vault_objects (vault_key, type, name_key, vault, name, created_at, deleted, deleted_at, scheduled_purge_at, recovery_id, policy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				key(v.Vault), string(v.Type), key(v.Name), obj.Vault, obj.Name, obj.Created, false, zeroTime, zeroTime, "", obj.Policy); err != nil {
				return err
			}
		case err != nil:
			return err
		case obj.Deleted != nil:
			return fmt.Errorf("%s: %w", describeObject(obj.Vault, obj.Type, obj.Name), vault.ErrObjectDeleted)
		default:
			ok, err := Exists(ctx, q, `SELECT 1 FROM vault_versions v WHERE `+versionWhere+` AND v.version = ?`, append(objectArgs(v.Vault, v.Type, v.Name), v.Version)...)
			if err != nil {
				return err
			}
			if ok {
				return fmt.Errorf("version %s exists: %w", v.Version, store.ErrConflict)
			}
			if opts.Policy != nil {
				if _, err := q.Exec(ctx, `UPDATE vault_objects SET policy = ? WHERE vault_key = ? AND type = ? AND name_key = ?`,
					append([]any{cloneBytes(opts.Policy)}, objectArgs(v.Vault, v.Type, v.Name)...)...); err != nil {
					return err
				}
			}
		}
		v.Vault, v.Name = obj.Vault, obj.Name
		return insertVersion(ctx, q, &v, tags)
	})
	if err := s.finish(what, err); err != nil {
		return vault.ObjectVersion{}, err
	}
	return v, nil
}

// insertVersion inserts v (its tags encoded) and sets its Seq. The seq is
// drawn after the revision row lock, so seqs are assigned in commit order
// on both backends.
func insertVersion(ctx context.Context, q Querier, v *vault.ObjectVersion, tags string) error {
	found, err := QueryOne(ctx, q, `INSERT INTO vault_versions (vault_key, type, name_key, version, vault, name, created_at, updated_at, enabled, not_before, expires_at, content_type, tags, sealed, public, meta)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		[]any{key(v.Vault), string(v.Type), key(v.Name), v.Version, v.Vault, v.Name, v.Created, v.Updated, v.Enabled, v.NotBefore, v.Expires, v.ContentType, tags, v.Sealed, v.Public, v.Meta},
		&v.Seq)
	if err != nil {
		return err
	}
	if !found {
		return errors.New("the insert returned no seq")
	}
	return nil
}

// RestoreObject inserts a new live object with its versions, in order, in
// one transaction; see vault.Store for the errors.
func (s *Store) RestoreObject(ctx context.Context, obj vault.Object, vers []vault.ObjectVersion, exclusive []vault.ObjectType) ([]vault.ObjectVersion, error) {
	what := fmt.Sprintf("restore %s", describeObject(obj.Vault, obj.Type, obj.Name))
	if err := validType(obj.Type); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	for _, t := range exclusive {
		if err := validType(t); err != nil {
			return nil, fmt.Errorf("%s: exclusive %w", what, err)
		}
	}
	if err := required(what, "name", obj.Name); err != nil {
		return nil, err
	}
	if len(vers) == 0 {
		return nil, fmt.Errorf("%s: no versions: %w", what, store.ErrConflict)
	}
	out := make([]vault.ObjectVersion, len(vers))
	tags := make([]string, len(vers))
	seen := map[string]bool{}
	for i, v := range vers {
		if err := required(what, "version", v.Version); err != nil {
			return nil, err
		}
		if seen[v.Version] {
			return nil, fmt.Errorf("%s: version %s given twice: %w", what, v.Version, store.ErrConflict)
		}
		seen[v.Version] = true
		t, err := encodeTags(v.Tags)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		tags[i] = t
		v.Type = obj.Type
		v.Tags = cloneTags(v.Tags)
		v.Sealed, v.Public, v.Meta = cloneBytes(v.Sealed), cloneBytes(v.Public), cloneBytes(v.Meta)
		v.Created, v.Updated, v.NotBefore, v.Expires = Time(v.Created), Time(v.Updated), Time(v.NotBefore), Time(v.Expires)
		out[i] = v
	}
	err := s.Write(ctx, func(q Querier) error {
		vlt, err := getVault(ctx, q, obj.Vault, "")
		if err != nil {
			return err
		}
		for _, t := range exclusive {
			var other string
			found, err := QueryOne(ctx, q, `SELECT o.name FROM vault_objects o WHERE `+objectWhere, objectArgs(obj.Vault, t, obj.Name), &other)
			if err != nil {
				return err
			}
			if found {
				return fmt.Errorf("%s exists (live or deleted): %w", describeObject(vlt.Name, t, other), store.ErrConflict)
			}
		}
		existing, err := getObject(ctx, q, obj.Vault, obj.Type, obj.Name, s.db.ForUpdate())
		switch {
		case err == nil && existing.Deleted != nil:
			return fmt.Errorf("%s: %w", describeObject(existing.Vault, existing.Type, existing.Name), vault.ErrObjectDeleted)
		case err == nil:
			return fmt.Errorf("%s exists: %w", describeObject(existing.Vault, existing.Type, existing.Name), store.ErrConflict)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		created := Time(obj.Created)
		if _, err := q.Exec(ctx, `INSERT INTO vault_objects (vault_key, type, name_key, vault, name, created_at, deleted, deleted_at, scheduled_purge_at, recovery_id, policy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			key(obj.Vault), string(obj.Type), key(obj.Name), vlt.Name, obj.Name, created, false, zeroTime, zeroTime, "", cloneBytes(obj.Policy)); err != nil {
			return err
		}
		for i := range out {
			out[i].Vault, out[i].Name = vlt.Name, obj.Name
			if err := insertVersion(ctx, q, &out[i], tags[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err := s.finish(what, err); err != nil {
		return nil, err
	}
	return out, nil
}

// GetObject returns an object's state, live or deleted; store.ErrNotFound if
// absent.
func (s *Store) GetObject(ctx context.Context, vaultName string, typ vault.ObjectType, name string) (vault.Object, error) {
	o, err := readValue(ctx, s, func(q Querier) (vault.Object, error) { return getObject(ctx, q, vaultName, typ, name, "") })
	if err != nil {
		return vault.Object{}, s.vaultError("get object", err)
	}
	return o, nil
}

// UpdateObject loads the object, calls mutate and writes Deleted and Policy
// back in one transaction; mutate's error is returned as is.
func (s *Store) UpdateObject(ctx context.Context, vaultName string, typ vault.ObjectType, name string, mutate func(*vault.Object) error) (vault.Object, error) {
	var out vault.Object
	err := s.Write(ctx, func(q Querier) error {
		o, err := getObject(ctx, q, vaultName, typ, name, s.db.ForUpdate())
		if err != nil {
			return err
		}
		c := o
		if err := mutate(&c); err != nil {
			return callbackError{err}
		}
		o.Policy = cloneBytes(c.Policy)
		o.Deleted = nil
		deletion := vault.Deletion{DeletedAt: zeroTime, ScheduledPurgeAt: zeroTime}
		if c.Deleted != nil {
			deletion = *c.Deleted
			deletion.DeletedAt, deletion.ScheduledPurgeAt = Time(deletion.DeletedAt), Time(deletion.ScheduledPurgeAt)
			d := deletion
			o.Deleted = &d
		}
		if _, err := q.Exec(ctx, `UPDATE vault_objects SET deleted = ?, deleted_at = ?, scheduled_purge_at = ?, recovery_id = ?, policy = ? WHERE vault_key = ? AND type = ? AND name_key = ?`,
			append([]any{c.Deleted != nil, Time(deletion.DeletedAt), Time(deletion.ScheduledPurgeAt), deletion.RecoveryID, o.Policy}, objectArgs(vaultName, typ, name)...)...); err != nil {
			return err
		}
		out = o
		return nil
	})
	if err := s.finish(fmt.Sprintf("update %s", describeObject(vaultName, typ, name)), err); err != nil {
		return vault.Object{}, err
	}
	return out, nil
}

// ListObjects returns the objects of one type, live or deleted per q, with
// their newest version (without its sealed blob), ordered by case-folded
// name.
func (s *Store) ListObjects(ctx context.Context, vaultName string, typ vault.ObjectType, oq vault.ObjectQuery) ([]vault.ObjectEntry, error) {
	query := `SELECT ` + objectColumns + `, ` + versionColumns + `
FROM vault_objects o JOIN vault_versions v ON v.seq = (
	SELECT MAX(x.seq) FROM vault_versions x WHERE x.vault_key = o.vault_key AND x.type = o.type AND x.name_key = o.name_key)
WHERE o.vault_key = ? AND o.type = ? AND o.deleted = ? AND o.name_key > ?
ORDER BY o.name_key`
	query, args := withLimit(query, []any{key(vaultName), string(typ), oq.Deleted, key(oq.After)}, oq.Limit)
	out, err := readValue(ctx, s, func(q Querier) ([]vault.ObjectEntry, error) {
		return scanAll(ctx, q, query, args, func(rows Rows) (vault.ObjectEntry, error) {
			var e vault.ObjectEntry
			dest, done := versionDest(&e.Newest, false)
			if err := scanObject(rows, &e.Object, dest...); err != nil {
				return e, err
			}
			return e, done()
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list %s of vault %q: %w", typ, vaultName, err)
	}
	return out, nil
}

// GetVersion returns one version, sealed blob included (version "" = the
// newest), whether or not the object is deleted; store.ErrNotFound if
// absent.
func (s *Store) GetVersion(ctx context.Context, vaultName string, typ vault.ObjectType, name, version string) (vault.ObjectVersion, error) {
	out, err := readValue(ctx, s, func(q Querier) (vault.ObjectVersion, error) {
		return getVersion(ctx, q, vaultName, typ, name, version, "")
	})
	if err != nil {
		return vault.ObjectVersion{}, s.vaultError("get version", err)
	}
	return out, nil
}

// GetObjectVersion returns an object and one of its versions (the newest
// when version is ""), sealed blob included, with one query; see
// vault.Store.
func (s *Store) GetObjectVersion(ctx context.Context, vaultName string, typ vault.ObjectType, name, version string) (vault.Object, vault.ObjectVersion, error) {
	query := `SELECT ` + objectColumns + `, ` + versionSealed + ` FROM vault_objects o JOIN vault_versions v
ON v.vault_key = o.vault_key AND v.type = o.type AND v.name_key = o.name_key WHERE ` + objectWhere
	args := objectArgs(vaultName, typ, name)
	if version == "" {
		query += ` ORDER BY v.seq DESC LIMIT 1`
	} else {
		query += ` AND v.version = ?`
		args = append(args, version)
	}
	var o vault.Object
	var v vault.ObjectVersion
	dest, done := versionDest(&v, true)
	rows, err := s.queryHot(ctx, query, args...)
	if err == nil {
		var found bool
		found, err = scanOneObject(rows, &o, dest...)
		if err == nil && !found {
			what := describeObject(vaultName, typ, name)
			if version != "" {
				what = fmt.Sprintf("version %q of %s", version, what)
			}
			err = fmt.Errorf("%s: %w", what, store.ErrNotFound)
		}
		if err == nil {
			err = done()
		}
	}
	if err != nil {
		return vault.Object{}, vault.ObjectVersion{}, s.vaultError("get object version", err)
	}
	return o, v, nil
}

// scanOneObject scans the first row of rows with scanObject, closes rows and
// reports whether there was a row.
func scanOneObject(rows Rows, o *vault.Object, extra ...any) (bool, error) {
	defer rows.Close()
	if !rows.Next() {
		return false, rows.Err()
	}
	if err := scanObject(rows, o, extra...); err != nil {
		return false, err
	}
	return true, rows.Close()
}

func getVersion(ctx context.Context, q Querier, vaultName string, typ vault.ObjectType, name, version, lock string) (vault.ObjectVersion, error) {
	query := `SELECT ` + versionSealed + ` FROM vault_versions v WHERE ` + versionWhere
	args := objectArgs(vaultName, typ, name)
	if version == "" {
		query += ` ORDER BY v.seq DESC LIMIT 1`
	} else {
		query += ` AND v.version = ?`
		args = append(args, version)
	}
	rows, err := q.Query(ctx, query+lock, args...)
	if err != nil {
		return vault.ObjectVersion{}, err
	}
	vs, err := scanVersions(rows, true)
	if err != nil {
		return vault.ObjectVersion{}, err
	}
	if len(vs) == 0 {
		if version == "" {
			return vault.ObjectVersion{}, fmt.Errorf("%s: %w", describeObject(vaultName, typ, name), store.ErrNotFound)
		}
		return vault.ObjectVersion{}, fmt.Errorf("version %q of %s: %w", version, describeObject(vaultName, typ, name), store.ErrNotFound)
	}
	return vs[0], nil
}

// ListVersions returns every version of an object, oldest first, sealed
// blobs included; store.ErrNotFound if the object does not exist.
func (s *Store) ListVersions(ctx context.Context, vaultName string, typ vault.ObjectType, name string) ([]vault.ObjectVersion, error) {
	var out []vault.ObjectVersion
	err := s.Read(ctx, func(q Querier) error {
		rows, err := q.Query(ctx, `SELECT `+versionSealed+` FROM vault_versions v WHERE `+versionWhere+` ORDER BY v.seq`, objectArgs(vaultName, typ, name)...)
		if err != nil {
			return err
		}
		if out, err = scanVersions(rows, true); err != nil {
			return err
		}
		if len(out) == 0 {
			return fmt.Errorf("%s: %w", describeObject(vaultName, typ, name), store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return nil, s.vaultError("list versions", err)
	}
	return out, nil
}

// UpdateVersion loads a version, calls mutate and writes its mutable fields
// (Enabled, NotBefore, Expires, ContentType, Tags, Updated, Meta) back in one
// transaction; mutate's error is returned as is.
func (s *Store) UpdateVersion(ctx context.Context, vaultName string, typ vault.ObjectType, name, version string, mutate func(*vault.ObjectVersion) error) (vault.ObjectVersion, error) {
	what := fmt.Sprintf("update version %q of %s", version, describeObject(vaultName, typ, name))
	if version == "" {
		return vault.ObjectVersion{}, fmt.Errorf("%s: version %q: %w", what, version, store.ErrNotFound)
	}
	var out vault.ObjectVersion
	err := s.Write(ctx, func(q Querier) error {
		v, err := getVersion(ctx, q, vaultName, typ, name, version, s.db.ForUpdate())
		if err != nil {
			return err
		}
		c := v
		c.Tags = cloneTags(v.Tags)
		c.Public, c.Meta, c.Sealed = cloneBytes(v.Public), cloneBytes(v.Meta), cloneBytes(v.Sealed)
		if err := mutate(&c); err != nil {
			return callbackError{err}
		}
		v.Enabled, v.ContentType = c.Enabled, c.ContentType
		v.NotBefore, v.Expires, v.Updated = Time(c.NotBefore), Time(c.Expires), Time(c.Updated)
		v.Tags, v.Meta = cloneTags(c.Tags), cloneBytes(c.Meta)
		tags, err := encodeTags(v.Tags)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `UPDATE vault_versions SET enabled = ?, not_before = ?, expires_at = ?, content_type = ?, tags = ?, updated_at = ?, meta = ? WHERE seq = ?`,
			v.Enabled, v.NotBefore, v.Expires, v.ContentType, tags, v.Updated, v.Meta, v.Seq); err != nil {
			return err
		}
		out = v
		return nil
	})
	if err := s.finish(what, err); err != nil {
		return vault.ObjectVersion{}, err
	}
	return out, nil
}

// PurgeObject removes an object with all its versions and, for a
// certificate, its lifetime markers; store.ErrNotFound if absent.
func (s *Store) PurgeObject(ctx context.Context, vaultName string, typ vault.ObjectType, name string) error {
	what := fmt.Sprintf("purge %s", describeObject(vaultName, typ, name))
	err := s.Write(ctx, func(q Querier) error {
		if _, err := getObject(ctx, q, vaultName, typ, name, s.db.ForUpdate()); err != nil {
			return err
		}
		args := objectArgs(vaultName, typ, name)
		if _, err := q.Exec(ctx, `DELETE FROM vault_versions WHERE vault_key = ? AND type = ? AND name_key = ?`, args...); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `DELETE FROM vault_objects WHERE vault_key = ? AND type = ? AND name_key = ?`, args...); err != nil {
			return err
		}
		if typ == vault.Certificates {
			// Lifetime actions exist for certificates only; their markers
			// name the certificate without a type.
			if _, err := q.Exec(ctx, `DELETE FROM vault_lifetime_markers WHERE vault_key = ? AND name_key = ?`, key(vaultName), key(name)); err != nil {
				return err
			}
		}
		return nil
	})
	return s.finish(what, err)
}

// ScanVersions returns up to limit versions (all when limit <= 0) of every
// vault with Seq > afterSeq, ordered by Seq, sealed blobs included.
func (s *Store) ScanVersions(ctx context.Context, afterSeq int64, limit int) ([]vault.ObjectVersion, error) {
	query, args := withLimit(`SELECT `+versionSealed+` FROM vault_versions v WHERE v.seq > ? ORDER BY v.seq`, []any{afterSeq}, limit)
	var out []vault.ObjectVersion
	err := s.Read(ctx, func(q Querier) error {
		rows, err := q.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		out, err = scanVersions(rows, true)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("scan versions after seq %d: %w", afterSeq, err)
	}
	return out, nil
}

// ReplaceSealed applies the updates in one transaction, each only where the
// version still holds Old, and returns how many were applied.
func (s *Store) ReplaceSealed(ctx context.Context, updates []vault.SealedUpdate) (int, error) {
	if len(updates) == 0 {
		return 0, nil
	}
	applied := 0
	err := s.Write(ctx, func(q Querier) error {
		applied = 0
		for _, u := range updates {
			var n int64
			var err error
			if len(u.Old) == 0 {
				// bytes.Equal semantics: nil and empty are equal.
				n, err = q.Exec(ctx, `UPDATE vault_versions SET sealed = ? WHERE seq = ? AND (sealed IS NULL OR length(sealed) = 0)`, cloneBytes(u.New), u.Seq)
			} else {
				n, err = q.Exec(ctx, `UPDATE vault_versions SET sealed = ? WHERE seq = ? AND sealed = ?`, cloneBytes(u.New), u.Seq, u.Old)
			}
			if err != nil {
				return fmt.Errorf("version seq %d: %w", u.Seq, err)
			}
			applied += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("replace sealed values: %w", err)
	}
	return applied, nil
}

// Role assignments.

const assignmentColumns = `id, vault, scope, principal_id, role, created_at`

// CreateRoleAssignment adds an assignment; store.ErrConflict if the id is
// taken or the same vault, scope (case-insensitively), principal and role
// exist; store.ErrNotFound if the vault does not exist.
func (s *Store) CreateRoleAssignment(ctx context.Context, a vault.RoleAssignment) error {
	what := fmt.Sprintf("create role assignment %q in vault %q", a.ID, a.Vault)
	if err := required(what, "id", a.ID, "principal id", a.PrincipalID, "role", a.Role); err != nil {
		return err
	}
	err := s.Write(ctx, func(q Querier) error {
		if _, err := getVault(ctx, q, a.Vault, ""); err != nil {
			return err
		}
		ok, err := Exists(ctx, q, `SELECT 1 FROM vault_role_assignments WHERE id = ?`, a.ID)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("the id is taken: %w", store.ErrConflict)
		}
		var other string
		found, err := QueryOne(ctx, q, `SELECT id FROM vault_role_assignments WHERE vault_key = ? AND scope_key = ? AND principal_id = ? AND role = ?`,
			[]any{key(a.Vault), key(a.Scope), a.PrincipalID, a.Role}, &other)
		if err != nil {
			return err
		}
		if found {
			return fmt.Errorf("role %q is already assigned to principal %q at scope %q by assignment %s: %w", a.Role, a.PrincipalID, a.Scope, other, store.ErrConflict)
		}
		_, err = q.Exec(ctx, `INSERT INTO vault_role_assignments (vault_key, scope_key, `+assignmentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			key(a.Vault), key(a.Scope), a.ID, a.Vault, a.Scope, a.PrincipalID, a.Role, Time(a.Created))
		return err
	})
	return s.finish(what, err)
}

// ListRoleAssignments returns a vault's assignments in the order they were
// created, only principalID's when it is not "".
func (s *Store) ListRoleAssignments(ctx context.Context, vaultName, principalID string) ([]vault.RoleAssignment, error) {
	query := `SELECT ` + assignmentColumns + ` FROM vault_role_assignments WHERE vault_key = ?`
	args := []any{key(vaultName)}
	if principalID != "" {
		query += ` AND principal_id = ?`
		args = append(args, principalID)
	}
	out := []vault.RoleAssignment{}
	err := s.Read(ctx, func(q Querier) error {
		rows, err := q.Query(ctx, query+` ORDER BY seq`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a vault.RoleAssignment
			if err := rows.Scan(&a.ID, &a.Vault, &a.Scope, &a.PrincipalID, &a.Role, &a.Created); err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list role assignments of vault %q: %w", vaultName, err)
	}
	return out, nil
}

// DeleteRoleAssignment removes one assignment; store.ErrNotFound if absent.
func (s *Store) DeleteRoleAssignment(ctx context.Context, vaultName, id string) error {
	err := s.Write(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, `DELETE FROM vault_role_assignments WHERE vault_key = ? AND id = ?`, key(vaultName), id)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("role assignment %q in vault %q: %w", id, vaultName, store.ErrNotFound)
		}
		return nil
	})
	return s.finish("delete role assignment", err)
}

// References.

func referenceArgs(r vault.Reference) []any {
	return []any{key(r.Vault), string(r.Type), key(r.Name), r.Version, r.Referrer}
}

func describeReference(r vault.Reference) string {
	v := ""
	if r.Version != "" {
		v = " version " + r.Version
	}
	return fmt.Sprintf("reference by %q to %s%s", r.Referrer, describeObject(r.Vault, r.Type, r.Name), v)
}

// AddReference records a reference; recording the same vault, type, name,
// version and referrer again is a no-op.
func (s *Store) AddReference(ctx context.Context, r vault.Reference) error {
	what := "add " + describeReference(r)
	if err := validType(r.Type); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := required(what, "vault", r.Vault, "name", r.Name, "referrer", r.Referrer); err != nil {
		return err
	}
	err := s.Write(ctx, func(q Querier) error {
		_, err := q.Exec(ctx, `INSERT INTO vault_references (vault_key, type, name_key, version, referrer, vault, name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (vault_key, type, name_key, version, referrer) DO NOTHING`,
			append(referenceArgs(r), r.Vault, r.Name, Time(r.Created))...)
		return err
	})
	return s.finish(what, err)
}

// RemoveReference removes the reference with r's vault, type, name, version
// and referrer; store.ErrNotFound if absent.
func (s *Store) RemoveReference(ctx context.Context, r vault.Reference) error {
	what := "remove " + describeReference(r)
	err := s.Write(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, `DELETE FROM vault_references WHERE vault_key = ? AND type = ? AND name_key = ? AND version = ? AND referrer = ?`, referenceArgs(r)...)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("no such reference: %w", store.ErrNotFound)
		}
		return nil
	})
	return s.finish(what, err)
}

// ListReferences returns the references to an object (any version) in the
// order they were recorded.
func (s *Store) ListReferences(ctx context.Context, vaultName string, typ vault.ObjectType, name string) ([]vault.Reference, error) {
	out := []vault.Reference{}
	err := s.Read(ctx, func(q Querier) error {
		rows, err := q.Query(ctx, `SELECT vault, type, name, version, referrer, created_at FROM vault_references WHERE vault_key = ? AND type = ? AND name_key = ? ORDER BY seq`,
			objectArgs(vaultName, typ, name)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r vault.Reference
			var t string
			if err := rows.Scan(&r.Vault, &t, &r.Name, &r.Version, &r.Referrer, &r.Created); err != nil {
				return err
			}
			r.Type = vault.ObjectType(t)
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list references to %s: %w", describeObject(vaultName, typ, name), err)
	}
	return out, nil
}

// Audit.

// AppendAudit appends records, in order, in one transaction (see
// AppendAuditLog: a record whose ID is stored already is left out). It
// does not change the global revision (see the top of
// this file).
func (s *Store) AppendAudit(ctx context.Context, records ...vault.AuditRecord) error {
	recs := make([]audit.Record, len(records))
	for i, a := range records {
		recs[i] = vaultAuditRecord(a)
	}
	return s.AppendAuditLog(ctx, recs...)
}

// vaultAuditRecord is a's row in the one audit log.
func vaultAuditRecord(a vault.AuditRecord) audit.Record {
	return audit.Record{ID: a.ID, Time: a.Time, RequestID: a.RequestID, TenantID: a.TenantID, AppID: a.AppID, ObjectID: a.ObjectID,
		Vault: a.Vault, Type: string(a.Type), Name: a.Name, Version: a.Version, Operation: a.Operation, Outcome: a.Outcome, Code: a.Code, Reason: a.Reason}
}

// ListAudit returns audit records, newest (last appended) first, of one
// vault or of all when q.Vault is "", at most q.Limit when it is positive.
func (s *Store) ListAudit(ctx context.Context, aq vault.AuditQuery) ([]vault.AuditRecord, error) {
	query := `SELECT COALESCE(record_id, ''), ` + auditColumns + ` FROM vault_audit`
	args := []any{audit.TypeDirectory}
	query += ` WHERE type <> ?` // the directory's records share the log
	if aq.Vault != "" {
		query += ` AND vault_key = ?`
		args = append(args, key(aq.Vault))
	}
	query, args = withLimit(query+` ORDER BY seq DESC`, args, aq.Limit)
	out, err := readValue(ctx, s, func(q Querier) ([]vault.AuditRecord, error) {
		return scanAll(ctx, q, query, args, func(rows Rows) (vault.AuditRecord, error) {
			var a vault.AuditRecord
			var t string
			err := rows.Scan(&a.ID, &a.Time, &a.RequestID, &a.TenantID, &a.AppID, &a.ObjectID, &a.Vault, &t, &a.Name, &a.Version, &a.Operation, &a.Outcome, &a.Code, &a.Reason)
			a.Type = vault.ObjectType(t)
			return a, err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list audit records: %w", err)
	}
	return out, nil
}

// Lifetime markers.

func markerArgs(m vault.LifetimeMarker) []any {
	return []any{key(m.Vault), key(m.Name), m.Version, m.Action, m.Trigger}
}

// MarkLifetimeAction records m and reports true, or reports false when a
// marker with the same vault, name, version, action and trigger exists. One
// statement decides, so exactly one of several nodes racing gets true. It
// does not change the global revision.
func (s *Store) MarkLifetimeAction(ctx context.Context, m vault.LifetimeMarker) (bool, error) {
	what := fmt.Sprintf("mark lifetime action %s (%s) of version %s of certificate %q in vault %q", m.Action, m.Trigger, m.Version, m.Name, m.Vault)
	if err := required(what, "vault", m.Vault, "name", m.Name, "action", m.Action); err != nil {
		return false, err
	}
	var n int64
	err := s.db.Write(ctx, func(q Querier) error {
		var err error
		n, err = q.Exec(ctx, `INSERT INTO vault_lifetime_markers (vault_key, name_key, version, action, trigger_spec, vault, name, fired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (vault_key, name_key, version, action, trigger_spec) DO NOTHING`,
			append(markerArgs(m), m.Vault, m.Name, Time(m.Fired))...)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return n == 1, nil
}

// UnmarkLifetimeAction removes a marker; an absent marker is not an error.
func (s *Store) UnmarkLifetimeAction(ctx context.Context, m vault.LifetimeMarker) error {
	err := s.db.Write(ctx, func(q Querier) error {
		_, err := q.Exec(ctx, `DELETE FROM vault_lifetime_markers WHERE vault_key = ? AND name_key = ? AND version = ? AND action = ? AND trigger_spec = ?`, markerArgs(m)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("unmark lifetime action %s (%s) of certificate %q in vault %q: %w", m.Action, m.Trigger, m.Name, m.Vault, err)
	}
	return nil
}

// Helpers.

// zeroTime is what an unset NotBefore, Expires or deletion time is stored
// as: the zero instant, which reads back as the zero time.Time on both
// backends.
var zeroTime time.Time

// nullable returns b as read from a nullable blob column: nil for NULL,
// never nil otherwise.
func nullable(b []byte, notNull bool) []byte {
	if !notNull {
		return nil
	}
	return Bytes(b)
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func cloneTags(tags map[string]string) map[string]string {
	if tags == nil {
		return nil
	}
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		out[k] = v
	}
	return out
}
