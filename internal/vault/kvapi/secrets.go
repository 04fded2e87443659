package kvapi

import (
	"net/http"

	"github.com/portcullis/portcullis/internal/vault"
)

// secretBundle is Key Vault's SecretBundle / DeletedSecretBundle and, with
// Value nil, SecretItem / DeletedSecretItem.
type secretBundle struct {
	Value       *string           `json:"value,omitempty"`
	ID          string            `json:"id"`
	ContentType string            `json:"contentType,omitempty"`
	Attributes  wireAttributes    `json:"attributes"`
	Tags        map[string]string `json:"tags,omitempty"`
	KID         string            `json:"kid,omitempty"`
	Managed     bool              `json:"managed,omitempty"`
	deletion
}

// deletion holds the members of deleted objects.
type deletion struct {
	RecoveryID         string `json:"recoveryId,omitempty"`
	DeletedDate        *int64 `json:"deletedDate,omitempty"`
	ScheduledPurgeDate *int64 `json:"scheduledPurgeDate,omitempty"`
}

type listResult[T any] struct {
	Value    []T     `json:"value"`
	NextLink *string `json:"nextLink"`
}

func attributesToWire(a vault.Attributes) wireAttributes {
	enabled := a.Enabled
	days := a.RecoverableDays
	return wireAttributes{
		Enabled: &enabled, NotBefore: unix(a.NotBefore), Expires: unix(a.Expires),
		Created: unix(a.Created), Updated: unix(a.Updated), RecoveryLevel: a.RecoveryLevel, RecoverableDays: &days,
	}
}

// objectID is https://{vault}.{base}/{collection}/{name}[/{version}].
func (rq *request) objectID(collection, name, version string) string {
	id := rq.t.id + "/" + collection + "/" + name
	if version != "" {
		id += "/" + version
	}
	return id
}

func (rq *request) deletionOf(typ vault.ObjectType, name string, d *vault.Deletion) deletion {
	if d == nil {
		return deletion{}
	}
	return deletion{RecoveryID: rq.objectID("deleted"+string(typ), name, ""), DeletedDate: unix(d.DeletedAt), ScheduledPurgeDate: unix(d.ScheduledPurgeAt)}
}

// secretBundle converts a secret read or written with its value (the only
// place the value is revealed, for the wire); deleted secrets and
// attribute updates have none.
func (rq *request) secretBundle(s vault.Secret, withValue bool) secretBundle {
	b := secretBundle{
		ID: rq.objectID("secrets", s.Name, s.Version), ContentType: s.ContentType,
		Attributes: attributesToWire(s.Attributes), Tags: s.Tags, Managed: s.Managed,
		deletion: rq.deletionOf(vault.Secrets, s.Name, s.Deleted),
	}
	if s.Managed {
		b.KID = rq.objectID("keys", s.Name, s.Version)
	}
	if withValue {
		v := s.Value.Reveal()
		b.Value = &v
	}
	return b
}

// secretItem is a listing row: no value, no kid, a version-less id unless
// the listing is of versions.
func (rq *request) secretItem(s vault.Secret, withVersion bool) secretBundle {
	b := rq.secretBundle(s, false)
	if !withVersion {
		b.ID = rq.objectID("secrets", s.Name, "")
	}
	b.KID = ""
	return b
}

// secrets serves /secrets[/{name}[/{version}|/versions|/backup]] and /secrets/restore.
func (rq *request) secrets(segs []string) {
	c, v := rq.caller, rq.t.vault
	ctx := rq.r.Context()
	s := rq.h.cfg.Vault
	switch {
	case len(segs) == 0:
		rq.route("GET /secrets")
		if !rq.allow(http.MethodGet) {
			return
		}
		p, err := rq.pageRequest("secrets")
		if err != nil {
			rq.fail(err)
			return
		}
		page, err := s.ListSecrets(ctx, c, v, p)
		replyList(rq, "secrets", p, page, err, false, rq.secretItem)
	case len(segs) == 1 && segs[0] == "restore" && rq.r.Method == http.MethodPost:
		rq.restore(vault.Secrets)
	case len(segs) == 1:
		name := segs[0]
		rq.route(rq.r.Method + " /secrets/{name}")
		if !rq.allow(http.MethodPut, http.MethodGet, http.MethodPatch, http.MethodDelete) {
			return
		}
		switch rq.r.Method {
		case http.MethodPut:
			in, ok := body(rq, parseSecretSet)
			if !ok {
				return
			}
			sec, err := s.SetSecret(ctx, c, v, name, in)
			rq.ok(rq.secretBundle(sec, true), err)
		case http.MethodGet:
			rq.getSecret(name, "")
		case http.MethodPatch:
			rq.updateSecret(name, "")
		case http.MethodDelete:
			sec, err := s.DeleteSecret(ctx, c, v, name)
			rq.ok(rq.secretBundle(sec, false), err)
		}
	case len(segs) == 2 && segs[1] == "versions":
		rq.route("GET /secrets/{name}/versions")
		if !rq.allow(http.MethodGet) {
			return
		}
		name := segs[0]
		listing := "secrets/" + name + "/versions"
		p, err := rq.pageRequest(listing)
		if err != nil {
			rq.fail(err)
			return
		}
		page, err := s.ListSecretVersions(ctx, c, v, name, p)
		replyList(rq, listing, p, page, err, true, rq.secretItem)
	case len(segs) == 2 && segs[1] == "backup":
		rq.backup(vault.Secrets, segs[0])
	case len(segs) == 2:
		rq.route(rq.r.Method + " /secrets/{name}/{version}")
		if !rq.allow(http.MethodGet, http.MethodPatch) {
			return
		}
		if rq.r.Method == http.MethodGet {
			rq.getSecret(segs[0], segs[1])
		} else {
			rq.updateSecret(segs[0], segs[1])
		}
	default:
		rq.notFound()
	}
}

// getSecret serves GET /secrets/{name}[/{version}], with outContentType
// from api-version 2025-07-01 (defined since 2025-06-01-preview); the 7.x
// versions do not define the parameter, so it is ignored there and the
// value keeps the format of the certificate's policy.
func (rq *request) getSecret(name, version string) {
	q := rq.r.URL.Query()
	var sec vault.Secret
	var err error
	if oct, ok := q["outContentType"]; ok && !isSevenX(rq.version) {
		if len(oct) != 1 {
			rq.fail(badParameter("The 'outContentType' query parameter is given %d times: give it once.", len(oct)))
			return
		}
		sec, err = rq.h.cfg.Vault.GetSecretAs(rq.r.Context(), rq.caller, rq.t.vault, name, version, oct[0])
	} else {
		sec, err = rq.h.cfg.Vault.GetSecret(rq.r.Context(), rq.caller, rq.t.vault, name, version)
	}
	rq.ok(rq.secretBundle(sec, true), err)
}

func (rq *request) updateSecret(name, version string) {
	u, ok := body(rq, parseSecretUpdate)
	if !ok {
		return
	}
	sec, err := rq.h.cfg.Vault.UpdateSecret(rq.r.Context(), rq.caller, rq.t.vault, name, version, u)
	rq.ok(rq.secretBundle(sec, false), err)
}
