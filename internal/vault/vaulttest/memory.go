// Package vaulttest holds what implementations and users of vault.Store
// test with: Run, the conformance suite every Store implementation passes,
// and MemoryStore, an in-memory Store for unit tests that passes it too.
package vaulttest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/vault"
)

// MemoryStore is an in-memory vault.Store; one mutex makes every call a
// transaction. It is a fake for tests, not for production.
type MemoryStore struct {
	mu          sync.Mutex
	seq         int64
	rev         int64
	vaults      map[string]vault.Vault
	objects     map[objKey]*memObject
	assignments []vault.RoleAssignment
	refs        []vault.Reference
	audit       []vault.AuditRecord
	auditIDs    map[string]bool // the IDs in audit
	markers     map[markerKey]vault.LifetimeMarker
	settings    map[settingKey]vault.Setting
}

type settingKey struct {
	vault string
	kind  vault.SettingKind
	name  string
}

type objKey struct {
	vault string
	typ   vault.ObjectType
	name  string
}

type markerKey struct{ vault, name, version, action, trigger string }

type memObject struct {
	obj      vault.Object
	versions []vault.ObjectVersion // by Seq
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		vaults:   map[string]vault.Vault{},
		objects:  map[objKey]*memObject{},
		markers:  map[markerKey]vault.LifetimeMarker{},
		settings: map[settingKey]vault.Setting{},
	}
}

var _ vault.Store = (*MemoryStore)(nil)

func fold(s string) string { return strings.ToLower(s) }

func key(v string, t vault.ObjectType, name string) objKey { return objKey{fold(v), t, fold(name)} }

func copyObject(o vault.Object) vault.Object {
	if o.Deleted != nil {
		d := *o.Deleted
		o.Deleted = &d
	}
	o.Policy = bytes.Clone(o.Policy)
	return o
}

func copyVersion(v vault.ObjectVersion) vault.ObjectVersion {
	if v.Tags != nil {
		t := make(map[string]string, len(v.Tags))
		for k, x := range v.Tags {
			t[k] = x
		}
		v.Tags = t
	}
	v.Sealed = bytes.Clone(v.Sealed)
	v.Public = bytes.Clone(v.Public)
	v.Meta = bytes.Clone(v.Meta)
	return v
}

// CreateVault implements vault.Store.
func (m *MemoryStore) CreateVault(_ context.Context, v vault.Vault) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++ // may move without a change, as Revision allows
	if _, ok := m.vaults[fold(v.Name)]; ok {
		return fmt.Errorf("vault %q: %w", v.Name, store.ErrConflict)
	}
	m.vaults[fold(v.Name)] = v
	return nil
}

// GetVault implements vault.Store.
func (m *MemoryStore) GetVault(_ context.Context, name string) (vault.Vault, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vaults[fold(name)]
	if !ok {
		return vault.Vault{}, fmt.Errorf("vault %q: %w", name, store.ErrNotFound)
	}
	return v, nil
}

// ListVaults implements vault.Store.
func (m *MemoryStore) ListVaults(context.Context) ([]vault.Vault, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]vault.Vault, 0, len(m.vaults))
	for _, v := range m.vaults {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return fold(out[i].Name) < fold(out[j].Name) })
	return out, nil
}

// UpdateVault implements vault.Store.
func (m *MemoryStore) UpdateVault(_ context.Context, name string, mutate func(*vault.Vault) error) (vault.Vault, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++ // may move without a change, as Revision allows
	v, ok := m.vaults[fold(name)]
	if !ok {
		return vault.Vault{}, fmt.Errorf("vault %q: %w", name, store.ErrNotFound)
	}
	orig := v.Name
	if err := mutate(&v); err != nil {
		return vault.Vault{}, err
	}
	v.Name = orig
	m.vaults[fold(name)] = v
	return v, nil
}

// DeleteVault implements vault.Store.
func (m *MemoryStore) DeleteVault(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++ // may move without a change, as Revision allows
	if _, ok := m.vaults[fold(name)]; !ok {
		return fmt.Errorf("vault %q: %w", name, store.ErrNotFound)
	}
	for k := range m.objects {
		if k.vault == fold(name) {
			return fmt.Errorf("vault %q still holds objects: %w", name, store.ErrConflict)
		}
	}
	delete(m.vaults, fold(name))
	for k := range m.settings {
		if k.vault == fold(name) {
			delete(m.settings, k)
		}
	}
	m.assignments = slices.DeleteFunc(m.assignments, func(a vault.RoleAssignment) bool { return fold(a.Vault) == fold(name) })
	return nil
}

// AddVersion implements vault.Store.
func (m *MemoryStore) AddVersion(_ context.Context, v vault.ObjectVersion, opts vault.AddOptions) (vault.ObjectVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++ // may move without a change, as Revision allows
	if _, ok := m.vaults[fold(v.Vault)]; !ok {
		return vault.ObjectVersion{}, fmt.Errorf("vault %q: %w", v.Vault, store.ErrNotFound)
	}
	for _, t := range opts.Exclusive {
		if _, ok := m.objects[key(v.Vault, t, v.Name)]; ok {
			return vault.ObjectVersion{}, fmt.Errorf("%s %q exists: %w", t, v.Name, store.ErrConflict)
		}
	}
	k := key(v.Vault, v.Type, v.Name)
	o, ok := m.objects[k]
	if !ok {
		o = &memObject{obj: vault.Object{Vault: m.vaults[fold(v.Vault)].Name, Type: v.Type, Name: v.Name, Created: v.Created}}
	}
	if o.obj.Deleted != nil {
		return vault.ObjectVersion{}, fmt.Errorf("%s %q: %w", v.Type, v.Name, vault.ErrObjectDeleted)
	}
	for _, x := range o.versions {
		if x.Version == v.Version {
			return vault.ObjectVersion{}, fmt.Errorf("%s %q version %s exists: %w", v.Type, v.Name, v.Version, store.ErrConflict)
		}
	}
	m.seq++
	v = copyVersion(v)
	v.Seq = m.seq
	v.Vault = o.obj.Vault
	v.Name = o.obj.Name
	o.versions = append(o.versions, v)
	if opts.Policy != nil {
		o.obj.Policy = bytes.Clone(opts.Policy)
	}
	m.objects[k] = o
	return copyVersion(v), nil
}

// RestoreObject implements vault.Store.
func (m *MemoryStore) RestoreObject(_ context.Context, obj vault.Object, vers []vault.ObjectVersion, exclusive []vault.ObjectType) ([]vault.ObjectVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++ // may move without a change, as Revision allows
	vlt, ok := m.vaults[fold(obj.Vault)]
	if !ok {
		return nil, fmt.Errorf("vault %q: %w", obj.Vault, store.ErrNotFound)
	}
	for _, t := range exclusive {
		if _, ok := m.objects[key(obj.Vault, t, obj.Name)]; ok {
			return nil, fmt.Errorf("%s %q exists: %w", t, obj.Name, store.ErrConflict)
		}
	}
	k := key(obj.Vault, obj.Type, obj.Name)
	if o, ok := m.objects[k]; ok {
		if o.obj.Deleted != nil {
			return nil, fmt.Errorf("%s %q: %w", obj.Type, obj.Name, vault.ErrObjectDeleted)
		}
		return nil, fmt.Errorf("%s %q exists: %w", obj.Type, obj.Name, store.ErrConflict)
	}
	if len(vers) == 0 {
		return nil, fmt.Errorf("%s %q: no versions: %w", obj.Type, obj.Name, store.ErrConflict)
	}
	seen := map[string]bool{}
	for _, v := range vers {
		if seen[v.Version] {
			return nil, fmt.Errorf("%s %q version %s given twice: %w", obj.Type, obj.Name, v.Version, store.ErrConflict)
		}
		seen[v.Version] = true
	}
	o := &memObject{obj: vault.Object{Vault: vlt.Name, Type: obj.Type, Name: obj.Name, Created: obj.Created, Policy: bytes.Clone(obj.Policy)}}
	out := make([]vault.ObjectVersion, len(vers))
	for i, v := range vers {
		m.seq++
		v = copyVersion(v)
		v.Seq, v.Vault, v.Type, v.Name = m.seq, vlt.Name, obj.Type, obj.Name
		o.versions = append(o.versions, v)
		out[i] = copyVersion(v)
	}
	m.objects[k] = o
	return out, nil
}

// GetObject implements vault.Store.
func (m *MemoryStore) GetObject(_ context.Context, v string, t vault.ObjectType, name string) (vault.Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[key(v, t, name)]
	if !ok {
		return vault.Object{}, fmt.Errorf("%s %q: %w", t, name, store.ErrNotFound)
	}
	return copyObject(o.obj), nil
}

// UpdateObject implements vault.Store.
func (m *MemoryStore) UpdateObject(_ context.Context, v string, t vault.ObjectType, name string, mutate func(*vault.Object) error) (vault.Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++ // may move without a change, as Revision allows
	o, ok := m.objects[key(v, t, name)]
	if !ok {
		return vault.Object{}, fmt.Errorf("%s %q: %w", t, name, store.ErrNotFound)
	}
	obj := copyObject(o.obj)
	if err := mutate(&obj); err != nil {
		return vault.Object{}, err
	}
	o.obj.Deleted = obj.Deleted
	o.obj.Policy = bytes.Clone(obj.Policy)
	return copyObject(o.obj), nil
}

// ListObjects implements vault.Store.
func (m *MemoryStore) ListObjects(_ context.Context, v string, t vault.ObjectType, q vault.ObjectQuery) ([]vault.ObjectEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []vault.ObjectEntry
	for k, o := range m.objects {
		if k.vault != fold(v) || k.typ != t || (o.obj.Deleted != nil) != q.Deleted || (q.After != "" && k.name <= fold(q.After)) {
			continue
		}
		newest := copyVersion(o.versions[len(o.versions)-1])
		newest.Sealed = nil
		out = append(out, vault.ObjectEntry{Object: copyObject(o.obj), Newest: newest})
	}
	sort.Slice(out, func(i, j int) bool { return fold(out[i].Object.Name) < fold(out[j].Object.Name) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// GetObjectVersion implements vault.Store.
func (m *MemoryStore) GetObjectVersion(_ context.Context, v string, t vault.ObjectType, name, version string) (vault.Object, vault.ObjectVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ver, err := m.versionLocked(v, t, name, version)
	if err != nil {
		return vault.Object{}, vault.ObjectVersion{}, err
	}
	return copyObject(m.objects[key(v, t, name)].obj), ver, nil
}

// GetVersion implements vault.Store.
func (m *MemoryStore) GetVersion(_ context.Context, v string, t vault.ObjectType, name, version string) (vault.ObjectVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.versionLocked(v, t, name, version)
}

func (m *MemoryStore) versionLocked(v string, t vault.ObjectType, name, version string) (vault.ObjectVersion, error) {
	o, ok := m.objects[key(v, t, name)]
	if !ok {
		return vault.ObjectVersion{}, fmt.Errorf("%s %q: %w", t, name, store.ErrNotFound)
	}
	if version == "" {
		return copyVersion(o.versions[len(o.versions)-1]), nil
	}
	for _, x := range o.versions {
		if x.Version == version {
			return copyVersion(x), nil
		}
	}
	return vault.ObjectVersion{}, fmt.Errorf("%s %q version %q: %w", t, name, version, store.ErrNotFound)
}

// ListVersions implements vault.Store.
func (m *MemoryStore) ListVersions(_ context.Context, v string, t vault.ObjectType, name string) ([]vault.ObjectVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[key(v, t, name)]
	if !ok {
		return nil, fmt.Errorf("%s %q: %w", t, name, store.ErrNotFound)
	}
	out := make([]vault.ObjectVersion, len(o.versions))
	for i, x := range o.versions {
		out[i] = copyVersion(x)
	}
	return out, nil
}

// UpdateVersion implements vault.Store.
func (m *MemoryStore) UpdateVersion(_ context.Context, v string, t vault.ObjectType, name, version string, mutate func(*vault.ObjectVersion) error) (vault.ObjectVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++ // may move without a change, as Revision allows
	o, ok := m.objects[key(v, t, name)]
	if !ok {
		return vault.ObjectVersion{}, fmt.Errorf("%s %q: %w", t, name, store.ErrNotFound)
	}
	for i, x := range o.versions {
		if x.Version != version {
			continue
		}
		c := copyVersion(x)
		if err := mutate(&c); err != nil {
			return vault.ObjectVersion{}, err
		}
		x.Enabled, x.NotBefore, x.Expires, x.ContentType, x.Updated = c.Enabled, c.NotBefore, c.Expires, c.ContentType, c.Updated
		x.Tags = copyVersion(c).Tags
		x.Meta = bytes.Clone(c.Meta)
		o.versions[i] = x
		return copyVersion(x), nil
	}
	return vault.ObjectVersion{}, fmt.Errorf("%s %q version %q: %w", t, name, version, store.ErrNotFound)
}

// PurgeObject implements vault.Store.
func (m *MemoryStore) PurgeObject(_ context.Context, v string, t vault.ObjectType, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++ // may move without a change, as Revision allows
	k := key(v, t, name)
	if _, ok := m.objects[k]; !ok {
		return fmt.Errorf("%s %q: %w", t, name, store.ErrNotFound)
	}
	delete(m.objects, k)
	if t == vault.Certificates {
		for mk := range m.markers {
			if fold(mk.vault) == k.vault && fold(mk.name) == k.name {
				delete(m.markers, mk)
			}
		}
	}
	return nil
}

// ScanVersions implements vault.Store.
func (m *MemoryStore) ScanVersions(_ context.Context, afterSeq int64, limit int) ([]vault.ObjectVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []vault.ObjectVersion
	for _, o := range m.objects {
		for _, x := range o.versions {
			if x.Seq > afterSeq {
				out = append(out, copyVersion(x))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// ReplaceSealed implements vault.Store.
func (m *MemoryStore) ReplaceSealed(_ context.Context, updates []vault.SealedUpdate) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++ // may move without a change, as Revision allows
	n := 0
	for _, u := range updates {
		for _, o := range m.objects {
			for i := range o.versions {
				if o.versions[i].Seq == u.Seq && bytes.Equal(o.versions[i].Sealed, u.Old) {
					o.versions[i].Sealed = bytes.Clone(u.New)
					n++
				}
			}
		}
	}
	return n, nil
}

// CreateRoleAssignment implements vault.Store.
func (m *MemoryStore) CreateRoleAssignment(_ context.Context, a vault.RoleAssignment) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++ // may move without a change, as Revision allows
	if _, ok := m.vaults[fold(a.Vault)]; !ok {
		return fmt.Errorf("vault %q: %w", a.Vault, store.ErrNotFound)
	}
	for _, x := range m.assignments {
		if x.ID == a.ID || (fold(x.Vault) == fold(a.Vault) && fold(x.Scope) == fold(a.Scope) && x.PrincipalID == a.PrincipalID && x.Role == a.Role) {
			return fmt.Errorf("role assignment: %w", store.ErrConflict)
		}
	}
	m.assignments = append(m.assignments, a)
	return nil
}

// ListRoleAssignments implements vault.Store.
func (m *MemoryStore) ListRoleAssignments(_ context.Context, v, principalID string) ([]vault.RoleAssignment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []vault.RoleAssignment
	for _, x := range m.assignments {
		if fold(x.Vault) == fold(v) && (principalID == "" || x.PrincipalID == principalID) {
			out = append(out, x)
		}
	}
	return out, nil
}

// DeleteRoleAssignment implements vault.Store.
func (m *MemoryStore) DeleteRoleAssignment(_ context.Context, v, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++ // may move without a change, as Revision allows
	for i, x := range m.assignments {
		if fold(x.Vault) == fold(v) && x.ID == id {
			m.assignments = slices.Delete(m.assignments, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("role assignment %q: %w", id, store.ErrNotFound)
}

func sameRef(a, b vault.Reference) bool {
	return fold(a.Vault) == fold(b.Vault) && a.Type == b.Type && fold(a.Name) == fold(b.Name) && a.Version == b.Version && a.Referrer == b.Referrer
}

// AddReference implements vault.Store.
func (m *MemoryStore) AddReference(_ context.Context, r vault.Reference) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++ // may move without a change, as Revision allows
	for _, x := range m.refs {
		if sameRef(x, r) {
			return nil
		}
	}
	m.refs = append(m.refs, r)
	return nil
}

// RemoveReference implements vault.Store.
func (m *MemoryStore) RemoveReference(_ context.Context, r vault.Reference) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++ // may move without a change, as Revision allows
	for i, x := range m.refs {
		if sameRef(x, r) {
			m.refs = slices.Delete(m.refs, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("reference: %w", store.ErrNotFound)
}

// ListReferences implements vault.Store.
func (m *MemoryStore) ListReferences(_ context.Context, v string, t vault.ObjectType, name string) ([]vault.Reference, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []vault.Reference
	for _, x := range m.refs {
		if fold(x.Vault) == fold(v) && x.Type == t && fold(x.Name) == fold(name) {
			out = append(out, x)
		}
	}
	return out, nil
}

// AppendAudit implements vault.Store.
func (m *MemoryStore) AppendAudit(_ context.Context, records ...vault.AuditRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.auditIDs == nil {
		m.auditIDs = make(map[string]bool)
	}
	for _, r := range records {
		if r.ID != "" {
			if m.auditIDs[r.ID] {
				continue // stored by an earlier attempt
			}
			m.auditIDs[r.ID] = true
		}
		m.audit = append(m.audit, r)
	}
	return nil
}

// Revision implements vault.Store.
func (m *MemoryStore) Revision(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rev, nil
}

// ListAudit implements vault.Store.
func (m *MemoryStore) ListAudit(_ context.Context, q vault.AuditQuery) ([]vault.AuditRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []vault.AuditRecord
	for i := len(m.audit) - 1; i >= 0; i-- {
		if q.Vault == "" || fold(m.audit[i].Vault) == fold(q.Vault) {
			out = append(out, m.audit[i])
			if q.Limit > 0 && len(out) == q.Limit {
				break
			}
		}
	}
	return out, nil
}

func mkey(x vault.LifetimeMarker) markerKey {
	return markerKey{fold(x.Vault), fold(x.Name), x.Version, x.Action, x.Trigger}
}

// MarkLifetimeAction implements vault.Store.
func (m *MemoryStore) MarkLifetimeAction(_ context.Context, x vault.LifetimeMarker) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.markers[mkey(x)]; ok {
		return false, nil
	}
	m.markers[mkey(x)] = x
	return true, nil
}

// UnmarkLifetimeAction implements vault.Store.
func (m *MemoryStore) UnmarkLifetimeAction(_ context.Context, x vault.LifetimeMarker) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.markers, mkey(x))
	return nil
}

func skey(v string, kind vault.SettingKind, name string) settingKey {
	return settingKey{fold(v), kind, fold(name)}
}

func copySetting(st vault.Setting) vault.Setting {
	st.Body = bytes.Clone(st.Body)
	if st.Body == nil {
		st.Body = []byte{}
	}
	return st
}

// PutSetting implements vault.Store.
func (m *MemoryStore) PutSetting(_ context.Context, st vault.Setting) (vault.Setting, error) {
	return m.writeSetting(st, true)
}

// CreateSetting implements vault.Store.
func (m *MemoryStore) CreateSetting(_ context.Context, st vault.Setting) (vault.Setting, error) {
	return m.writeSetting(st, false)
}

func (m *MemoryStore) writeSetting(st vault.Setting, replace bool) (vault.Setting, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++
	v, ok := m.vaults[fold(st.Vault)]
	if !ok {
		return vault.Setting{}, fmt.Errorf("vault %q: %w", st.Vault, store.ErrNotFound)
	}
	k := skey(st.Vault, st.Kind, st.Name)
	out := copySetting(st)
	out.Vault = v.Name
	if cur, ok := m.settings[k]; ok {
		if !replace {
			return vault.Setting{}, fmt.Errorf("%s %q of vault %q exists: %w", st.Kind, cur.Name, v.Name, store.ErrConflict)
		}
		out.Name, out.Created = cur.Name, cur.Created
	}
	m.settings[k] = out
	return copySetting(out), nil
}

// GetSetting implements vault.Store.
func (m *MemoryStore) GetSetting(_ context.Context, v string, kind vault.SettingKind, name string) (vault.Setting, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.settings[skey(v, kind, name)]
	if !ok {
		return vault.Setting{}, fmt.Errorf("%s %q of vault %q: %w", kind, name, v, store.ErrNotFound)
	}
	return copySetting(st), nil
}

// UpdateSetting implements vault.Store.
func (m *MemoryStore) UpdateSetting(_ context.Context, v string, kind vault.SettingKind, name string, mutate func(*vault.Setting) error) (vault.Setting, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++
	k := skey(v, kind, name)
	cur, ok := m.settings[k]
	if !ok {
		return vault.Setting{}, fmt.Errorf("%s %q of vault %q: %w", kind, name, v, store.ErrNotFound)
	}
	c := copySetting(cur)
	if err := mutate(&c); err != nil {
		return vault.Setting{}, err
	}
	cur.Body, cur.Updated = bytes.Clone(c.Body), c.Updated
	cur = copySetting(cur)
	m.settings[k] = cur
	return copySetting(cur), nil
}

// ListSettings implements vault.Store.
func (m *MemoryStore) ListSettings(_ context.Context, v string, kind vault.SettingKind) ([]vault.Setting, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []vault.Setting{}
	for k, st := range m.settings {
		if k.vault == fold(v) && k.kind == kind {
			out = append(out, copySetting(st))
		}
	}
	sort.Slice(out, func(i, j int) bool { return fold(out[i].Name) < fold(out[j].Name) })
	return out, nil
}

// DeleteSetting implements vault.Store.
func (m *MemoryStore) DeleteSetting(_ context.Context, v string, kind vault.SettingKind, name string) (vault.Setting, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++
	k := skey(v, kind, name)
	cur, ok := m.settings[k]
	if !ok {
		return vault.Setting{}, fmt.Errorf("%s %q of vault %q: %w", kind, name, v, store.ErrNotFound)
	}
	delete(m.settings, k)
	return cur, nil
}
