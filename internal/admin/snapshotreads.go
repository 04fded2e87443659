package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
)

// snapshotReads is the API's directory store during a database outage: a
// read the store fails with store.ErrUnavailable is answered from the
// node's directory snapshot instead (the one tokens are issued from), for
// the reads the snapshot can answer as the store would: the tenants, one
// application by appId, and the APIs and connectors. Other reads
// (application listings and searches, grants) and every write still fail,
// with 503.
type snapshotReads struct {
	directory.Store
	snapshot func() *directory.Snapshot
}

// from returns the snapshot when err says the database is unavailable and
// a snapshot exists.
func (s snapshotReads) from(err error) (*directory.Snapshot, bool) {
	if !errors.Is(err, store.ErrUnavailable) {
		return nil, false
	}
	snap := s.snapshot()
	return snap, snap != nil
}

func (s snapshotReads) ListTenants(ctx context.Context) ([]directory.Tenant, error) {
	ts, err := s.Store.ListTenants(ctx)
	if snap, ok := s.from(err); ok {
		return slices.Clone(snap.Tenants()), nil
	}
	return ts, err
}

func (s snapshotReads) GetApplication(ctx context.Context, tenantID, appID string) (directory.Application, error) {
	app, err := s.Store.GetApplication(ctx, tenantID, appID)
	if snap, ok := s.from(err); ok {
		if a, found := snap.Application(tenantID, appID); found {
			return *a, nil
		}
		return directory.Application{}, fmt.Errorf("application %s: %w", appID, store.ErrNotFound)
	}
	return app, err
}

func (s snapshotReads) GetAPI(ctx context.Context, tenantID, name string) (directory.API, error) {
	api, err := s.Store.GetAPI(ctx, tenantID, name)
	if snap, ok := s.from(err); ok {
		if a, found := snap.API(tenantID, name); found {
			return *a, nil
		}
		return directory.API{}, fmt.Errorf("API %q: %w", name, store.ErrNotFound)
	}
	return api, err
}

func (s snapshotReads) ListAPIs(ctx context.Context, tenantID string) ([]directory.API, error) {
	apis, err := s.Store.ListAPIs(ctx, tenantID)
	if snap, ok := s.from(err); ok {
		return ofTenant(snap.APIs(), tenantID, func(a directory.API) (string, string) { return a.TenantID, a.Name }), nil
	}
	return apis, err
}

func (s snapshotReads) ListAllAPIs(ctx context.Context) ([]directory.API, error) {
	apis, err := s.Store.ListAllAPIs(ctx)
	if snap, ok := s.from(err); ok {
		return ofTenant(snap.APIs(), "", func(a directory.API) (string, string) { return a.TenantID, a.Name }), nil
	}
	return apis, err
}

func (s snapshotReads) GetConnector(ctx context.Context, tenantID, name string) (directory.Connector, error) {
	c, err := s.Store.GetConnector(ctx, tenantID, name)
	if snap, ok := s.from(err); ok {
		if found, ok := snap.Connector(tenantID, name); ok {
			return *found, nil
		}
		return directory.Connector{}, fmt.Errorf("connector %q: %w", name, store.ErrNotFound)
	}
	return c, err
}

func (s snapshotReads) ListConnectors(ctx context.Context, tenantID string) ([]directory.Connector, error) {
	cs, err := s.Store.ListConnectors(ctx, tenantID)
	if snap, ok := s.from(err); ok {
		return ofTenant(snap.Connectors(), tenantID, func(c directory.Connector) (string, string) { return c.TenantID, c.Name }), nil
	}
	return cs, err
}

func (s snapshotReads) ListAllConnectors(ctx context.Context) ([]directory.Connector, error) {
	cs, err := s.Store.ListAllConnectors(ctx)
	if snap, ok := s.from(err); ok {
		return ofTenant(snap.Connectors(), "", func(c directory.Connector) (string, string) { return c.TenantID, c.Name }), nil
	}
	return cs, err
}

// ofTenant returns the items of tenant (all when tenant is ""), ordered by
// tenant id, then name, as the store lists them.
func ofTenant[T any](all []T, tenant string, key func(T) (string, string)) []T {
	out := make([]T, 0, len(all))
	for _, x := range all {
		if t, _ := key(x); tenant == "" || t == tenant {
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b T) int {
		at, an := key(a)
		bt, bn := key(b)
		return cmp.Or(cmp.Compare(at, bt), cmp.Compare(an, bn))
	})
	return out
}
