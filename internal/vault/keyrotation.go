package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Key rotation policy actions (Key Vault's KeyRotationPolicyAction).
const (
	KeyActionRotate = "Rotate"
	KeyActionNotify = "Notify"
)

// Key lifetime notification events (Event Grid's names where it has one).
const (
	EventKeyNearExpiry = "KeyNearExpiry"
	EventKeyRotated    = "KeyRotated"
)

// Key Vault's bounds on rotation policies
// (https://learn.microsoft.com/azure/key-vault/keys/how-to-configure-key-rotation,
// "Key rotation policy"): the expiry at least 28 days; rotation at least 7
// days after creation and at least 7 days before expiry.
var (
	minKeyExpiry        = ISODuration{Days: 28}
	minKeyRotationDelay = ISODuration{Days: 7}
	maxKeyExpiry        = ISODuration{Years: 100}
	// isoReference is the instant durations are measured from when compared
	// with each other, so that P1M counts the same on every call.
	isoReference = time.Date(2001, time.January, 1, 0, 0, 0, 0, time.UTC)
)

// defaultKeyRotationPolicy is what Key Vault reports, and Portcullis acts
// on, for a key without a policy of its own: notify 30 days before expiry.
var defaultKeyRotationPolicy = KeyRotationPolicy{LifetimeActions: []KeyLifetimeAction{{Action: KeyActionNotify, TimeBeforeExpiry: "P30D"}}}

// KeyRotationPolicy is a key's rotation policy (Key Vault's KeyRotationPolicy).
type KeyRotationPolicy struct {
	LifetimeActions []KeyLifetimeAction `json:"lifetimeActions"`
	// ExpiryTime, an ISO 8601 duration, sets the expiry of each version
	// that rotation creates; "" for none.
	ExpiryTime string    `json:"expiryTime,omitempty"`
	Created    time.Time `json:"created,omitzero"`
	Updated    time.Time `json:"updated,omitzero"`
}

// KeyLifetimeAction is one action of a rotation policy with its trigger:
// exactly one of TimeAfterCreate (Rotate only) and TimeBeforeExpiry.
type KeyLifetimeAction struct {
	// Action is KeyActionRotate or KeyActionNotify.
	Action           string `json:"action"`
	TimeAfterCreate  string `json:"timeAfterCreate,omitempty"`
	TimeBeforeExpiry string `json:"timeBeforeExpiry,omitempty"`
}

func (a KeyLifetimeAction) trigger() string {
	if a.TimeAfterCreate != "" {
		return "timeAfterCreate=" + a.TimeAfterCreate
	}
	return "timeBeforeExpiry=" + a.TimeBeforeExpiry
}

func atLeast(d, floor ISODuration) bool {
	return !d.AddTo(isoReference).Before(floor.AddTo(isoReference))
}

// Normalize validates p as Key Vault does and returns it with canonical
// action names and durations.
func (p KeyRotationPolicy) Normalize() (KeyRotationPolicy, error) {
	out := KeyRotationPolicy{Created: p.Created, Updated: p.Updated, LifetimeActions: []KeyLifetimeAction{}}
	var expiry *ISODuration
	if p.ExpiryTime != "" {
		d, err := ParseISODuration(p.ExpiryTime)
		if err != nil {
			return KeyRotationPolicy{}, badRequest("attributes.expiryTime: %v", err)
		}
		if !atLeast(d, minKeyExpiry) {
			return KeyRotationPolicy{}, badRequest("attributes.expiryTime %s is too short: a key rotation policy's expiry time must be at least 28 days (P28D)", p.ExpiryTime)
		}
		if d.AddTo(isoReference).After(maxKeyExpiry.AddTo(isoReference)) {
			return KeyRotationPolicy{}, badRequest("attributes.expiryTime %s is too long: at most 100 years (P100Y)", p.ExpiryTime)
		}
		expiry = &d
		out.ExpiryTime = d.String()
	}
	seen := map[string]bool{}
	for i, a := range p.LifetimeActions {
		where := fmt.Sprintf("lifetimeActions[%d]", i)
		switch {
		case strings.EqualFold(a.Action, KeyActionRotate):
			a.Action = KeyActionRotate
		case strings.EqualFold(a.Action, KeyActionNotify):
			a.Action = KeyActionNotify
		case a.Action == "":
			return KeyRotationPolicy{}, badRequest("%s.action.type is missing: use Rotate or Notify", where)
		default:
			return KeyRotationPolicy{}, badRequest("%s.action.type %q is not valid: use Rotate or Notify", where, a.Action)
		}
		if seen[a.Action] {
			return KeyRotationPolicy{}, badRequest("%s: a rotation policy holds at most one %s action", where, a.Action)
		}
		seen[a.Action] = true
		if (a.TimeAfterCreate == "") == (a.TimeBeforeExpiry == "") {
			return KeyRotationPolicy{}, badRequest("%s.trigger must set exactly one of timeAfterCreate and timeBeforeExpiry", where)
		}
		if a.Action == KeyActionNotify && a.TimeAfterCreate != "" {
			return KeyRotationPolicy{}, badRequest("%s: a Notify action is triggered by timeBeforeExpiry only; timeAfterCreate applies to Rotate", where)
		}
		field, raw := "timeAfterCreate", a.TimeAfterCreate
		if raw == "" {
			field, raw = "timeBeforeExpiry", a.TimeBeforeExpiry
		}
		d, err := ParseISODuration(raw)
		if err != nil {
			return KeyRotationPolicy{}, badRequest("%s.trigger.%s: %v", where, field, err)
		}
		if !atLeast(d, minKeyRotationDelay) {
			return KeyRotationPolicy{}, badRequest("%s.trigger.%s %s is too short: it must be at least 7 days (P7D)", where, field, raw)
		}
		if expiry != nil && d.AddTo(isoReference).After(minKeyRotationDelay.SubtractFrom(expiry.AddTo(isoReference))) {
			return KeyRotationPolicy{}, badRequest("%s.trigger.%s %s leaves less than 7 days within the expiry time %s: shorten it or lengthen attributes.expiryTime", where, field, raw, out.ExpiryTime)
		}
		if field == "timeAfterCreate" {
			a.TimeAfterCreate = d.String()
		} else {
			a.TimeBeforeExpiry = d.String()
		}
		out.LifetimeActions = append(out.LifetimeActions, a)
	}
	return out, nil
}

// keyRotationPolicyOf decodes a key object's stored policy; nil when it has none.
func keyRotationPolicyOf(obj Object) (*KeyRotationPolicy, error) {
	if obj.Policy == nil {
		return nil, nil
	}
	var p KeyRotationPolicy
	if err := json.Unmarshal(obj.Policy, &p); err != nil {
		return nil, internal(err, "decode rotation policy of key %q", obj.Name)
	}
	return &p, nil
}

// GetKeyRotationPolicy returns a key's rotation policy, or Key Vault's
// default (notify 30 days before expiry, zero Created) when none was set.
func (s *Service) GetKeyRotationPolicy(ctx context.Context, c Caller, vault, name string) (KeyRotationPolicy, error) {
	return onVersion(s, ctx, c, vault, Keys, name, "", PermKeysRead, func(o *op, v Vault) (KeyRotationPolicy, error) {
		obj, _, err := s.liveVersion(ctx, v.Name, Keys, name, "")
		if err != nil {
			return KeyRotationPolicy{}, err
		}
		p, err := keyRotationPolicyOf(obj)
		if err != nil || p == nil {
			return defaultKeyRotationPolicy, err
		}
		return *p, nil
	})
}

// UpdateKeyRotationPolicy replaces a key's rotation policy (validated as
// Key Vault does) and returns it as stored.
func (s *Service) UpdateKeyRotationPolicy(ctx context.Context, c Caller, vault, name string, p KeyRotationPolicy) (KeyRotationPolicy, error) {
	return onVersion(s, ctx, c, vault, Keys, name, "", PermKeysSetRotationPolicy, func(o *op, v Vault) (KeyRotationPolicy, error) {
		if err := s.refuseManaged(ctx, v.Name, Keys, name, "set rotation policy"); err != nil {
			return KeyRotationPolicy{}, err
		}
		norm, err := p.Normalize()
		if err != nil {
			return KeyRotationPolicy{}, err
		}
		if _, _, err := s.liveVersion(ctx, v.Name, Keys, name, ""); err != nil {
			return KeyRotationPolicy{}, err
		}
		now := s.now().UTC().Truncate(time.Second)
		obj, err := s.store.UpdateObject(ctx, v.Name, Keys, name, func(obj *Object) error {
			if obj.Deleted != nil {
				return notFound(Keys, name, "")
			}
			norm.Created, norm.Updated = now, now
			if cur, err := keyRotationPolicyOf(*obj); err == nil && cur != nil && !cur.Created.IsZero() {
				norm.Created = cur.Created
			}
			obj.Policy, _ = json.Marshal(norm)
			return nil
		})
		if err != nil {
			return KeyRotationPolicy{}, wrapStoreErr(err, "update rotation policy of key %q", name)
		}
		stored, err := keyRotationPolicyOf(obj)
		if err != nil {
			return KeyRotationPolicy{}, err
		}
		if stored == nil {
			return KeyRotationPolicy{}, internal(nil, "rotation policy of key %q was not stored", name)
		}
		return *stored, nil
	})
}

// RotateKey creates a new version of a key with the same type, size or
// curve, operations and tags as its newest version; its expiry is the
// rotation policy's expiryTime from now, if the policy sets one.
func (s *Service) RotateKey(ctx context.Context, c Caller, vault, name string) (Key, error) {
	return onVersion(s, ctx, c, vault, Keys, name, "", PermKeysRotate, func(o *op, v Vault) (Key, error) {
		if err := s.refuseManaged(ctx, v.Name, Keys, name, "rotate"); err != nil {
			return Key{}, err
		}
		obj, ver, err := s.liveVersion(ctx, v.Name, Keys, name, "")
		if err != nil {
			return Key{}, err
		}
		nv, err := s.rotateKey(ctx, v, obj, ver)
		if err != nil {
			return Key{}, err
		}
		o.version = nv.Version
		return s.keyOf(v, nv)
	})
}

func (s *Service) rotateKey(ctx context.Context, v Vault, obj Object, newest ObjectVersion) (ObjectVersion, error) {
	k, err := s.keyOf(v, newest)
	if err != nil {
		return ObjectVersion{}, err
	}
	var exp time.Time
	p, err := keyRotationPolicyOf(obj)
	if err != nil {
		return ObjectVersion{}, err
	}
	if p != nil && p.ExpiryTime != "" {
		d, err := ParseISODuration(p.ExpiryTime)
		if err != nil {
			return ObjectVersion{}, internal(err, "stored rotation policy of key %q", obj.Name)
		}
		exp = d.AddTo(s.now().UTC())
	}
	octBits := 0
	if isOct(k.JWK.Kty) {
		raw, err := s.open(newest)
		if err != nil {
			return ObjectVersion{}, err
		}
		octBits = len(raw) * 8
		clear(raw)
	}
	m, err := newKeyMaterialLike(k.JWK, octBits)
	if err != nil {
		return ObjectVersion{}, err
	}
	defer m.clear()
	enabled := true
	return s.addKeyMaterial(ctx, v, obj.Name, m, k.JWK.KeyOps, &enabled, time.Time{}, exp, newest.Tags)
}

// keyLifetimeOf runs the rotation policy of one key against the clock, as
// lifetimeOf does for a certificate: each action fires once per newest
// version and trigger.
func (s *Service) keyLifetimeOf(ctx context.Context, v Vault, e ObjectEntry, rep *LifetimeReport) error {
	policy, err := keyRotationPolicyOf(e.Object)
	if err != nil {
		return err
	}
	if policy == nil {
		policy = &defaultKeyRotationPolicy
	}
	ver := e.Newest
	now := s.now().UTC()
	var errs []error
	for _, la := range policy.LifetimeActions {
		var at time.Time
		switch {
		case la.TimeAfterCreate != "":
			d, err := ParseISODuration(la.TimeAfterCreate)
			if err != nil {
				return internal(err, "stored rotation policy")
			}
			at = d.AddTo(ver.Created)
		case !ver.Expires.IsZero():
			d, err := ParseISODuration(la.TimeBeforeExpiry)
			if err != nil {
				return internal(err, "stored rotation policy")
			}
			at = d.SubtractFrom(ver.Expires)
		default:
			continue // timeBeforeExpiry on a version without expiry never fires
		}
		if now.Before(at) {
			continue
		}
		m := LifetimeMarker{Vault: v.Name, Name: e.Object.Name, Version: ver.Version, Action: la.Action, Trigger: la.trigger(), Fired: now}
		first, err := s.store.MarkLifetimeAction(ctx, m)
		if err != nil {
			errs = append(errs, fmt.Errorf("mark %s: %w", m.Action, err))
			continue
		}
		if !first {
			continue
		}
		n := Notification{
			Event: EventKeyNearExpiry, Vault: v.Name, Name: e.Object.Name, Version: ver.Version,
			Action: la.Action, Trigger: la.trigger(), NotBefore: ver.NotBefore, Expires: ver.Expires, Time: now,
		}
		var actErr error
		switch la.Action {
		case KeyActionNotify:
			if actErr = s.notifier.Notify(ctx, n); actErr == nil {
				rep.Notified++
			}
		case KeyActionRotate:
			o := s.begin(ctx, internalCaller, v.Name, Keys, e.Object.Name, "", PermKeysRotate)
			var nv ObjectVersion
			nv, actErr = s.rotateKey(ctx, v, e.Object, ver)
			if actErr == nil {
				o.version = nv.Version
			}
			o.end(&actErr)
			if actErr == nil {
				rep.Rotated++
				n.Event, n.NewVersion = EventKeyRotated, nv.Version
				if nerr := s.notifier.Notify(ctx, n); nerr != nil {
					s.log.Warn("vault key rotated but the notification failed", "vault", v.Name, "name", e.Object.Name, "error", nerr)
				}
			}
		}
		if actErr != nil {
			if uerr := s.store.UnmarkLifetimeAction(ctx, m); uerr != nil {
				s.log.Error("vault lifetime marker could not be removed; the action will not be retried", "vault", v.Name, "name", e.Object.Name, "error", uerr)
			}
			errs = append(errs, fmt.Errorf("%s at %s: %w", m.Action, m.Trigger, actErr))
		}
	}
	return errors.Join(errs...)
}
