package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/sts"
)

// The directory change log: every directory write records, in its own
// transaction and at the revision that transaction set, which objects it
// changed (cascades included: the applications and grants of a deleted
// tenant, the grants of a deleted application, the APIs and connectors of a
// deleted tenant). A node that serves a
// snapshot at revision r reads the objects changed after r with
// ChangesSince and derives the next snapshot from its own, instead of
// reading and indexing the whole directory.

// Kinds of changed objects in directory_changes.
const (
	changeTenant      = "tenant"
	changeApplication = "application"
	changeGrant       = "grant"
)

// changeLogRevisions is how many revisions of change log are kept. A node
// further behind than that reloads everything.
const changeLogRevisions = 10_000

// changed records that the object (kind, tenantID, objectID) changed in the
// caller's write transaction.
func changed(ctx context.Context, q Querier, kind, tenantID, objectID string) error {
	_, err := q.Exec(ctx, `INSERT INTO directory_changes (revision, kind, tenant_id, object_id) SELECT value, ?, ?, ? FROM revision WHERE id = 1`, kind, tenantID, objectID)
	if err != nil {
		return fmt.Errorf("record directory change: %w", err)
	}
	return nil
}

// pruneChanges drops the change log older than changeLogRevisions, in the
// caller's write transaction.
func pruneChanges(ctx context.Context, q Querier) error {
	_, err := q.Exec(ctx, `DELETE FROM directory_changes WHERE revision <= (SELECT value FROM revision WHERE id = 1) - ?`, int64(changeLogRevisions))
	if err != nil {
		return fmt.Errorf("prune directory change log: %w", err)
	}
	return nil
}

// Delta is what a node needs to move its snapshot from one revision to
// Changes.Revision: the directory objects that changed, and every signing
// key (a few per tenant; sts.Server.Apply reuses the ones it has opened).
type Delta struct {
	Changes     directory.Changes
	SigningKeys []sts.SigningKey
}

// ChangesSince reads, in one consistent transaction, the directory objects
// changed after revision since as they are now, and all signing keys. It
// reports false, and no delta, when the change log cannot answer (since is
// older than the log or newer than the store) or more than limit objects
// changed: then the caller reloads everything with Load.
func (s *Store) ChangesSince(ctx context.Context, since int64, limit int) (Delta, bool, error) {
	var d Delta
	ok := false
	err := s.Read(ctx, func(q Querier) error {
		var rev int64
		found, err := QueryOne(ctx, q, `SELECT value FROM revision WHERE id = 1`, nil, &rev)
		if err != nil {
			return err
		}
		if !found {
			return errors.New("the revision row is missing; the schema was not migrated")
		}
		if since > rev || rev-since >= changeLogRevisions {
			return nil
		}
		type object struct{ kind, tenantID, id string }
		objs, err := scanAll(ctx, q, `SELECT DISTINCT kind, tenant_id, object_id FROM directory_changes WHERE revision > ? ORDER BY kind, tenant_id, object_id LIMIT ?`,
			[]any{since, int64(limit) + 1}, func(r Rows) (object, error) {
				var o object
				err := r.Scan(&o.kind, &o.tenantID, &o.id)
				return o, err
			})
		if err != nil {
			return err
		}
		if len(objs) > limit {
			return nil
		}
		d.Changes.Revision = rev
		for _, o := range objs {
			switch o.kind {
			case changeTenant:
				ts, err := scanAll(ctx, q, `SELECT id, name, created_at FROM tenants WHERE id = ?`, []any{o.tenantID}, func(rows Rows) (directory.Tenant, error) {
					var t directory.Tenant
					err := rows.Scan(&t.ID, &t.Name, &t.CreatedAt)
					return t, err
				})
				if err != nil {
					return err
				}
				c := directory.ChangedTenant{ID: o.tenantID}
				if len(ts) == 1 {
					c.Tenant = &ts[0]
				}
				d.Changes.Tenants = append(d.Changes.Tenants, c)
			case changeApplication:
				apps, err := loadApplications(ctx, q, "tenant_id = ? AND app_id = ?", o.tenantID, o.id)
				if err != nil {
					return err
				}
				c := directory.ChangedApplication{TenantID: o.tenantID, AppID: o.id}
				if len(apps) == 1 {
					c.Application = &apps[0]
				}
				d.Changes.Applications = append(d.Changes.Applications, c)
			case changeGrant:
				gs, err := listGrants(ctx, q, "tenant_id = ? AND id = ?", o.tenantID, o.id)
				if err != nil {
					return err
				}
				c := directory.ChangedGrant{TenantID: o.tenantID, ID: o.id}
				if len(gs) == 1 {
					c.Grant = &gs[0]
				}
				d.Changes.Grants = append(d.Changes.Grants, c)
			case changeAPI:
				apis, err := listAPIs(ctx, q, "tenant_id = ? AND name = ?", o.tenantID, o.id)
				if err != nil {
					return err
				}
				c := directory.ChangedAPI{TenantID: o.tenantID, Name: o.id}
				if len(apis) == 1 {
					c.API = &apis[0]
				}
				d.Changes.APIs = append(d.Changes.APIs, c)
			case changeConnector:
				cs, err := listConnectors(ctx, q, "tenant_id = ? AND name = ?", o.tenantID, o.id)
				if err != nil {
					return err
				}
				c := directory.ChangedConnector{TenantID: o.tenantID, Name: o.id}
				if len(cs) == 1 {
					c.Connector = &cs[0]
				}
				d.Changes.Connectors = append(d.Changes.Connectors, c)
			default:
				return fmt.Errorf("directory change log: unknown kind %q; run the binary that wrote it", o.kind)
			}
		}
		if d.SigningKeys, err = listSigningKeys(ctx, q, "1 = 1"); err != nil {
			return err
		}
		ok = true
		return nil
	})
	if err != nil {
		return Delta{}, false, fmt.Errorf("read directory changes since revision %d: %w", since, err)
	}
	if !ok {
		return Delta{}, false, nil
	}
	return d, true, nil
}

// grantsChanged records a change of every grant matching where, before a
// cascade deletes them.
func grantsChanged(ctx context.Context, q Querier, where string, args ...any) error {
	ids, err := scanAll(ctx, q, `SELECT tenant_id, id FROM grants WHERE `+where, args, func(r Rows) ([2]string, error) {
		var k [2]string
		err := r.Scan(&k[0], &k[1])
		return k, err
	})
	if err != nil {
		return err
	}
	for _, k := range ids {
		if err := changed(ctx, q, changeGrant, k[0], k[1]); err != nil {
			return err
		}
	}
	return nil
}
