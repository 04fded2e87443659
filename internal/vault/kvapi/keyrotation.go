package kvapi

import (
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/vault"
)

// wireRotationPolicy is Key Vault's KeyRotationPolicy.
type wireRotationPolicy struct {
	ID              string                  `json:"id,omitempty"`
	LifetimeActions []wireKeyLifetimeAction `json:"lifetimeActions"`
	Attributes      *wireRotationAttributes `json:"attributes,omitempty"`
}

// wireKeyLifetimeAction is Key Vault's LifetimeAction of a key.
type wireKeyLifetimeAction struct {
	Trigger *wireKeyTrigger `json:"trigger,omitempty"`
	Action  *wireKeyAction  `json:"action,omitempty"`
}

// wireKeyTrigger is Key Vault's LifetimeActionTrigger (ISO 8601 durations).
type wireKeyTrigger struct {
	TimeAfterCreate  string `json:"timeAfterCreate,omitempty"`
	TimeBeforeExpiry string `json:"timeBeforeExpiry,omitempty"`
}

// wireKeyAction is Key Vault's LifetimeActionType.
type wireKeyAction struct {
	Type string `json:"type"`
}

// wireRotationAttributes is Key Vault's KeyRotationPolicyAttributes;
// created and updated are read-only (accepted and ignored on PUT).
type wireRotationAttributes struct {
	ExpiryTime string `json:"expiryTime,omitempty"`
	Created    *int64 `json:"created,omitempty"`
	Updated    *int64 `json:"updated,omitempty"`
}

// parseKeyRotationPolicy decodes PUT /keys/{name}/rotationpolicy; the
// service validates what it means.
func parseKeyRotationPolicy(body []byte) (vault.KeyRotationPolicy, error) {
	var b wireRotationPolicy
	if err := decodeJSON(body, &b); err != nil {
		return vault.KeyRotationPolicy{}, err
	}
	p := vault.KeyRotationPolicy{LifetimeActions: []vault.KeyLifetimeAction{}}
	if b.Attributes != nil {
		p.ExpiryTime = b.Attributes.ExpiryTime
	}
	for i, a := range b.LifetimeActions {
		if a.Trigger == nil {
			return vault.KeyRotationPolicy{}, badParameter("lifetimeActions[%d].trigger is missing: set timeAfterCreate or timeBeforeExpiry.", i)
		}
		if a.Action == nil {
			return vault.KeyRotationPolicy{}, badParameter("lifetimeActions[%d].action is missing: set {\"type\": \"Rotate\"} or {\"type\": \"Notify\"}.", i)
		}
		p.LifetimeActions = append(p.LifetimeActions, vault.KeyLifetimeAction{
			Action: a.Action.Type, TimeAfterCreate: a.Trigger.TimeAfterCreate, TimeBeforeExpiry: a.Trigger.TimeBeforeExpiry,
		})
	}
	return p, nil
}

func (rq *request) rotationPolicyToWire(name string, p vault.KeyRotationPolicy) wireRotationPolicy {
	w := wireRotationPolicy{ID: rq.objectID("keys", name, "") + "/rotationpolicy", LifetimeActions: []wireKeyLifetimeAction{}, Attributes: &wireRotationAttributes{ExpiryTime: p.ExpiryTime}}
	unix := func(t time.Time) *int64 {
		if t.IsZero() {
			return nil
		}
		u := t.Unix()
		return &u
	}
	w.Attributes.Created, w.Attributes.Updated = unix(p.Created), unix(p.Updated)
	for _, a := range p.LifetimeActions {
		w.LifetimeActions = append(w.LifetimeActions, wireKeyLifetimeAction{
			Trigger: &wireKeyTrigger{TimeAfterCreate: a.TimeAfterCreate, TimeBeforeExpiry: a.TimeBeforeExpiry},
			Action:  &wireKeyAction{Type: a.Action},
		})
	}
	return w
}

// keyRotationPolicy serves GET and PUT /keys/{name}/rotationpolicy.
func (rq *request) keyRotationPolicy(name string) {
	rq.route(rq.r.Method + " /keys/{name}/rotationpolicy")
	if !rq.allow(http.MethodGet, http.MethodPut) {
		return
	}
	s, ctx := rq.h.cfg.Vault, rq.r.Context()
	if rq.r.Method == http.MethodGet {
		p, err := s.GetKeyRotationPolicy(ctx, rq.caller, rq.t.vault, name)
		rq.ok(rq.rotationPolicyToWire(name, p), err)
		return
	}
	in, ok := body(rq, parseKeyRotationPolicy)
	if !ok {
		return
	}
	p, err := s.UpdateKeyRotationPolicy(ctx, rq.caller, rq.t.vault, name, in)
	rq.ok(rq.rotationPolicyToWire(name, p), err)
}
