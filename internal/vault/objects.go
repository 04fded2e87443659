package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/store"
)

// This file holds the machinery every object type shares: reading live
// versions, adding versions, soft delete, recover, purge and listings.

// liveVersion returns a live object's version (newest when version is ""),
// reading both with one store call.
func (s *Service) liveVersion(ctx context.Context, vault string, typ ObjectType, name, version string) (Object, ObjectVersion, error) {
	obj, ver, err := s.store.GetObjectVersion(ctx, vault, typ, name, version)
	if errors.Is(err, store.ErrNotFound) {
		return Object{}, ObjectVersion{}, notFound(typ, name, version)
	}
	if err != nil {
		return Object{}, ObjectVersion{}, internal(err, "read %s %q", typ.singular(), name)
	}
	if obj.Deleted != nil {
		return Object{}, ObjectVersion{}, notFound(typ, name, version)
	}
	return obj, ver, nil
}

// getObject returns an object (live or deleted), ok=false when absent.
func (s *Service) getObject(ctx context.Context, vault string, typ ObjectType, name string) (Object, bool, error) {
	obj, err := s.store.GetObject(ctx, vault, typ, name)
	if errors.Is(err, store.ErrNotFound) {
		return Object{}, false, nil
	}
	if err != nil {
		return Object{}, false, internal(err, "read %s %q", typ.singular(), name)
	}
	return obj, true, nil
}

// isManaged reports whether a secret or key named name is the view of a
// certificate (live or deleted).
func (s *Service) isManaged(ctx context.Context, vault, name string) (bool, error) {
	_, ok, err := s.getObject(ctx, vault, Certificates, name)
	return ok, err
}

// authorizeObject authorizes an operation on one object. A certificate-
// scoped assignment also covers the certificate's secret and key, which is
// only looked up when the plain check fails.
func (o *op) authorizeObject() (Vault, error) {
	target := string(o.typ) + "/" + o.name
	v, err := o.authorize(target, false)
	if err == nil || (o.typ != Secrets && o.typ != Keys) || o.c.AppID == "" && o.c.ObjectID == "" {
		return v, err
	}
	var e *Error
	if !errors.As(err, &e) || e.InnerCode != innerForbiddenByRbac {
		return v, err
	}
	managed, merr := o.s.isManaged(o.ctx, o.vault, o.name)
	if merr != nil || !managed {
		return Vault{}, err
	}
	if cerr := o.s.check(o.ctx, o.c, o.vault, o.perm, target, true); cerr != nil {
		return Vault{}, err
	}
	return o.s.getVault(o.ctx, o.vault, o.perm.readOnly())
}

// addVersion inserts ver, translating store conflicts into Key Vault errors.
func (s *Service) addVersion(ctx context.Context, ver ObjectVersion, opts AddOptions) (ObjectVersion, error) {
	for _, other := range opts.Exclusive {
		obj, ok, err := s.getObject(ctx, ver.Vault, other, ver.Name)
		if err != nil {
			return ObjectVersion{}, err
		}
		if ok {
			return ObjectVersion{}, exclusiveConflict(ver.Type, ver.Name, other, obj.Deleted != nil)
		}
	}
	audit.ChangeFrom(ctx).Describe(ver.Name, ver.Version)
	out, err := s.store.AddVersion(ctx, ver, opts)
	switch {
	case errors.Is(err, ErrObjectDeleted):
		return ObjectVersion{}, deletedConflict(ver.Type, ver.Name)
	case errors.Is(err, store.ErrConflict):
		// The store's words (table and constraint names) stay in Err, out of the answer.
		e := conflict("", "%s %s conflicts with an existing object of the same name; retry, or choose another name", capitalize(ver.Type.singular()), ver.Name)
		e.Err = err
		return ObjectVersion{}, e
	case errors.Is(err, store.ErrNotFound):
		return ObjectVersion{}, &Error{Kind: KindNotFound, Code: CodeVaultNotFound, Message: fmt.Sprintf("vault %q does not exist", ver.Vault)}
	case err != nil:
		return ObjectVersion{}, internal(err, "write %s %q", ver.Type.singular(), ver.Name)
	}
	return out, nil
}

func exclusiveConflict(typ ObjectType, name string, other ObjectType, deleted bool) *Error {
	state := "exists"
	if deleted {
		state = "is in a deleted but recoverable state"
	}
	if other == Certificates {
		return conflict("", "%s %s cannot be written: certificate %s %s and manages the %s of that name; use the certificate operations", capitalize(typ.singular()), name, name, state, typ.singular())
	}
	return conflict("", "Certificate %s cannot be created: a %s named %s %s; a certificate needs its name free among secrets and keys", name, other.singular(), name, state)
}

// refusedByReferences returns a Conflict error when anything references one
// of the objects.
func (s *Service) refusedByReferences(ctx context.Context, vault, name string, op string, types ...ObjectType) error {
	var referrers []string
	for _, typ := range types {
		refs, err := s.store.ListReferences(ctx, vault, typ, name)
		if err != nil {
			return internal(err, "read references")
		}
		for _, r := range refs {
			referrers = append(referrers, r.Referrer)
		}
	}
	if len(referrers) == 0 {
		return nil
	}
	sort.Strings(referrers)
	referrers = slices.Compact(referrers)
	return conflict("", "%s %s cannot be %s: it is referenced by %s; remove those references first", capitalize(types[0].singular()), name, op, strings.Join(referrers, ", "))
}

// softDelete moves a live object to the deleted state.
func (s *Service) softDelete(ctx context.Context, v Vault, typ ObjectType, name string) (Object, error) {
	now := s.now().UTC()
	obj, err := s.store.UpdateObject(ctx, v.Name, typ, name, func(o *Object) error {
		if o.Deleted != nil {
			return notFound(typ, name, "")
		}
		o.Deleted = &Deletion{
			DeletedAt:        now,
			ScheduledPurgeAt: now.Add(time.Duration(v.SoftDeleteRetentionDays) * 24 * time.Hour),
			RecoveryID:       "deleted" + string(typ) + "/" + o.Name,
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return Object{}, notFound(typ, name, "")
	}
	if err != nil {
		return Object{}, wrapStoreErr(err, "delete %s %q", typ.singular(), name)
	}
	return obj, nil
}

// recoverObject moves a deleted object back to live.
func (s *Service) recoverObject(ctx context.Context, vault string, typ ObjectType, name string) (Object, error) {
	obj, err := s.store.UpdateObject(ctx, vault, typ, name, func(o *Object) error {
		if o.Deleted == nil {
			return deletedNotFound(typ, name)
		}
		o.Deleted = nil
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return Object{}, deletedNotFound(typ, name)
	}
	if err != nil {
		return Object{}, wrapStoreErr(err, "recover %s %q", typ.singular(), name)
	}
	return obj, nil
}

// purgeObject permanently removes a deleted object.
func (s *Service) purgeObject(ctx context.Context, v Vault, typ ObjectType, name string, refTypes ...ObjectType) error {
	obj, ok, err := s.getObject(ctx, v.Name, typ, name)
	if err != nil {
		return err
	}
	if !ok || obj.Deleted == nil {
		return deletedNotFound(typ, name)
	}
	if v.PurgeProtection && s.now().Before(obj.Deleted.ScheduledPurgeAt) {
		return forbidden(CodeForbiddenByPolicy, "Operation \"purge\" is not allowed because purge protection is enabled for vault %s; %s %s will be purged automatically after its retention period, on %s.",
			v.Name, typ.singular(), name, obj.Deleted.ScheduledPurgeAt.UTC().Format(time.RFC3339))
	}
	if err := s.refusedByReferences(ctx, v.Name, name, "purged", refTypes...); err != nil {
		return err
	}
	if err := s.store.PurgeObject(ctx, v.Name, typ, name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return internal(err, "purge %s %q", typ.singular(), name)
	}
	s.expiry.DeleteLabelValues(v.Name, foldName(name))
	return nil
}

// deletedObject returns a deleted object and its newest version.
func (s *Service) deletedObject(ctx context.Context, vault string, typ ObjectType, name string) (Object, ObjectVersion, error) {
	obj, ok, err := s.getObject(ctx, vault, typ, name)
	if err != nil {
		return Object{}, ObjectVersion{}, err
	}
	if !ok || obj.Deleted == nil {
		return Object{}, ObjectVersion{}, deletedNotFound(typ, name)
	}
	ver, err := s.store.GetVersion(ctx, vault, typ, name, "")
	if err != nil {
		return Object{}, ObjectVersion{}, wrapStoreErr(err, "read deleted %s %q", typ.singular(), name)
	}
	return obj, ver, nil
}

// listEntries lists the objects of the given types (merged by name).
func (s *Service) listEntries(ctx context.Context, vault string, types []ObjectType, deleted bool, p PageRequest) ([]ObjectEntry, string, error) {
	n, err := p.size()
	if err != nil {
		return nil, "", err
	}
	var all []ObjectEntry
	for _, typ := range types {
		es, err := s.store.ListObjects(ctx, vault, typ, ObjectQuery{Deleted: deleted, After: p.After, Limit: n + 1})
		if err != nil {
			return nil, "", internal(err, "list %s", typ)
		}
		all = append(all, es...)
	}
	sort.SliceStable(all, func(i, j int) bool { return foldName(all[i].Object.Name) < foldName(all[j].Object.Name) })
	next := ""
	if len(all) > n {
		all = all[:n]
		next = all[n-1].Object.Name
	}
	return all, next, nil
}

// pageVersions pages a list of versions (oldest first) by version id.
func pageVersions(vers []ObjectVersion, p PageRequest) ([]ObjectVersion, string, error) {
	n, err := p.size()
	if err != nil {
		return nil, "", err
	}
	start := 0
	if p.After != "" {
		start = -1
		for i, v := range vers {
			if v.Version == p.After {
				start = i + 1
				break
			}
		}
		if start < 0 {
			return nil, "", badRequest("the paging cursor does not name a version of this object; start the listing again")
		}
	}
	vers = vers[start:]
	next := ""
	if len(vers) > n {
		vers = vers[:n]
		next = vers[n-1].Version
	}
	return vers, next, nil
}

// wrapStoreErr passes *Error values from mutate callbacks through and turns
// anything else into an internal error.
func wrapStoreErr(err error, format string, args ...any) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return internal(err, format, args...)
}

// listVersions returns all versions of a live object, oldest first.
func (s *Service) listVersions(ctx context.Context, vault string, typ ObjectType, name string) ([]ObjectVersion, error) {
	obj, ok, err := s.getObject(ctx, vault, typ, name)
	if err != nil {
		return nil, err
	}
	if !ok || obj.Deleted != nil {
		return nil, notFound(typ, name, "")
	}
	vers, err := s.store.ListVersions(ctx, vault, typ, name)
	if err != nil {
		return nil, internal(err, "list versions of %s %q", typ.singular(), name)
	}
	return vers, nil
}

// updateVersion applies u to a live object's version.
func (s *Service) updateVersion(ctx context.Context, vault string, typ ObjectType, name, version string, mutate func(*ObjectVersion) error) (ObjectVersion, error) {
	obj, ok, err := s.getObject(ctx, vault, typ, name)
	if err != nil {
		return ObjectVersion{}, err
	}
	if !ok || obj.Deleted != nil {
		return ObjectVersion{}, notFound(typ, name, version)
	}
	if version == "" {
		newest, err := s.store.GetVersion(ctx, vault, typ, name, "")
		if err != nil {
			return ObjectVersion{}, wrapStoreErr(err, "read %s %q", typ.singular(), name)
		}
		version = newest.Version
	}
	ver, err := s.store.UpdateVersion(ctx, vault, typ, name, version, mutate)
	if errors.Is(err, store.ErrNotFound) {
		return ObjectVersion{}, notFound(typ, name, version)
	}
	if err != nil {
		return ObjectVersion{}, wrapStoreErr(err, "update %s %q", typ.singular(), name)
	}
	return ver, nil
}

// activeAt reports whether a version is enabled, started and not expired at now.
func activeAt(v ObjectVersion, now time.Time) bool {
	return v.Enabled && (v.NotBefore.IsZero() || !now.Before(v.NotBefore)) && (v.Expires.IsZero() || now.Before(v.Expires))
}

// certificateView reports whether an object of type t may also be the
// secret or key view of a certificate of the same name.
func (t ObjectType) certificateView() bool { return t == Secrets || t == Keys }

// listed returns the types whose objects a listing of type t shows: a
// secret or key listing includes the views of certificates.
func listed(t ObjectType) []ObjectType {
	if t.certificateView() {
		return []ObjectType{t, Certificates}
	}
	return []ObjectType{t}
}

// covered returns the types whose references keep an object of type t
// from being deleted or purged: a certificate's with its secret and key.
func covered(t ObjectType) []ObjectType {
	if t == Certificates {
		return []ObjectType{Certificates, Secrets, Keys}
	}
	return []ObjectType{t}
}

// onObject runs fn as one audited operation (perm) on the object name of
// type typ, once the name is valid and the caller is authorized.
func onObject[T any](s *Service, ctx context.Context, c Caller, vault string, typ ObjectType, name string, perm Permission, fn func(Vault) (T, error)) (T, error) {
	return onVersion(s, ctx, c, vault, typ, name, "", perm, func(_ *op, v Vault) (T, error) { return fn(v) })
}

// onVersion is onObject for an operation on a version of the object (the
// newest when version is ""); fn may record in o.version the version it
// resolved.
func onVersion[T any](s *Service, ctx context.Context, c Caller, vault string, typ ObjectType, name, version string, perm Permission, fn func(o *op, v Vault) (T, error)) (out T, err error) {
	o := s.begin(ctx, c, vault, typ, name, version, perm)
	defer o.end(&err)
	if err := ValidateName(name); err != nil {
		return out, err
	}
	v, err := o.authorizeObject()
	if err != nil {
		return out, err
	}
	return fn(o, v)
}

// listObjectsAs lists the newest version of each live (or deleted) object
// of type typ, certificates' views included, converted by conv.
func listObjectsAs[T any](s *Service, ctx context.Context, c Caller, vault string, typ ObjectType, perm Permission, deleted bool, p PageRequest, conv func(Vault, ObjectEntry) (T, error)) (out Page[T], err error) {
	o := s.begin(ctx, c, vault, typ, "", "", perm)
	defer o.end(&err)
	v, err := o.authorize("", false)
	if err != nil {
		return Page[T]{}, err
	}
	return listPageAs(s, ctx, v, typ, deleted, p, conv)
}

// listPageAs is listObjectsAs in vault v, the caller already authorized.
func listPageAs[T any](s *Service, ctx context.Context, v Vault, typ ObjectType, deleted bool, p PageRequest, conv func(Vault, ObjectEntry) (T, error)) (out Page[T], err error) {
	es, next, err := s.listEntries(ctx, v.Name, listed(typ), deleted, p)
	if err != nil {
		return Page[T]{}, err
	}
	out.Next = next
	for _, e := range es {
		item, err := conv(v, e)
		if err != nil {
			return Page[T]{}, err
		}
		out.Items = append(out.Items, item)
	}
	return out, nil
}

// listVersionsAs lists every version of a live object of type typ (or of
// the certificate it is the view of), oldest first, converted by conv.
func listVersionsAs[T any](s *Service, ctx context.Context, c Caller, vault string, typ ObjectType, perm Permission, name string, p PageRequest, conv func(Vault, ObjectEntry) (T, error)) (Page[T], error) {
	return onObject(s, ctx, c, vault, typ, name, perm, func(v Vault) (Page[T], error) {
		stored := typ
		vers, err := s.listVersions(ctx, v.Name, typ, name)
		if typ.certificateView() && IsKind(err, KindNotFound) {
			if cv, cerr := s.listVersions(ctx, v.Name, Certificates, name); cerr == nil {
				vers, err, stored = cv, nil, Certificates
			}
		}
		if err != nil {
			return Page[T]{}, err
		}
		page, next, err := pageVersions(vers, p)
		if err != nil {
			return Page[T]{}, err
		}
		out := Page[T]{Next: next}
		for _, ver := range page {
			item, err := conv(v, ObjectEntry{Object: Object{Type: stored, Name: ver.Name}, Newest: ver})
			if err != nil {
				return Page[T]{}, err
			}
			out.Items = append(out.Items, item)
		}
		return out, nil
	})
}

// deleteObjectAs soft-deletes a live object of type typ (refused for the
// view of a certificate and while anything references it) and returns its
// newest version converted by conv.
func deleteObjectAs[T any](s *Service, ctx context.Context, c Caller, vault string, typ ObjectType, perm Permission, name string, conv func(Vault, ObjectEntry) (T, error)) (T, error) {
	return onObject(s, ctx, c, vault, typ, name, perm, func(v Vault) (out T, err error) {
		if err := s.refuseManaged(ctx, v.Name, typ, name, "delete"); err != nil {
			return out, err
		}
		if _, _, err := s.liveVersion(ctx, v.Name, typ, name, ""); err != nil {
			return out, err
		}
		if err := s.refusedByReferences(ctx, v.Name, name, "deleted", covered(typ)...); err != nil {
			return out, err
		}
		obj, err := s.softDelete(ctx, v, typ, name)
		if err != nil {
			return out, err
		}
		if typ == Certificates {
			s.expiry.DeleteLabelValues(v.Name, foldName(name))
		}
		ver, err := s.store.GetVersion(ctx, v.Name, typ, name, "")
		if err != nil {
			return out, wrapStoreErr(err, "read %s %q", typ.singular(), name)
		}
		return conv(v, ObjectEntry{Object: obj, Newest: ver})
	})
}

// getDeletedAs returns a deleted object of type typ (or the deleted
// certificate it is the view of) with its newest version, converted by conv.
func getDeletedAs[T any](s *Service, ctx context.Context, c Caller, vault string, typ ObjectType, perm Permission, name string, conv func(Vault, ObjectEntry) (T, error)) (T, error) {
	return onObject(s, ctx, c, vault, typ, name, perm, func(v Vault) (out T, err error) {
		obj, ver, err := s.deletedObject(ctx, v.Name, typ, name)
		if typ.certificateView() && IsKind(err, KindNotFound) {
			if cobj, cver, cerr := s.deletedObject(ctx, v.Name, Certificates, name); cerr == nil {
				return conv(v, ObjectEntry{Object: cobj, Newest: cver})
			}
		}
		if err != nil {
			return out, err
		}
		return conv(v, ObjectEntry{Object: obj, Newest: ver})
	})
}

// recoverObjectAs brings a deleted object of type typ back (refused for the
// view of a certificate) and returns what read makes of it.
func recoverObjectAs[T any](s *Service, ctx context.Context, c Caller, vault string, typ ObjectType, perm Permission, name string, read func(Vault, Object) (T, error)) (T, error) {
	return onObject(s, ctx, c, vault, typ, name, perm, func(v Vault) (out T, err error) {
		if err := s.refuseManaged(ctx, v.Name, typ, name, "recover"); err != nil {
			return out, err
		}
		obj, err := s.recoverObject(ctx, v.Name, typ, name)
		if err != nil {
			return out, err
		}
		return read(v, obj)
	})
}

// purge permanently removes a deleted object of type typ (refused for the
// view of a certificate, under purge protection and while referenced).
func (s *Service) purge(ctx context.Context, c Caller, vault string, typ ObjectType, perm Permission, name string) error {
	_, err := onObject(s, ctx, c, vault, typ, name, perm, func(v Vault) (struct{}, error) {
		if err := s.refuseManaged(ctx, v.Name, typ, name, "purge"); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, s.purgeObject(ctx, v, typ, name, covered(typ)...)
	})
	return err
}
