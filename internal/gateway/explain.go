package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/guard"
)

// ExplainResult is a dry run of one API's policy on a request: each step
// of the decision and the outcome. It never holds a credential.
type ExplainResult struct {
	Tenant      string              `json:"tenant"`
	API         string              `json:"api"`
	Steps       []ExplainStep       `json:"steps"`
	Allowed     bool                `json:"allowed"`
	Status      int                 `json:"status"`
	Error       string              `json:"error,omitempty"`
	Description string              `json:"error_description,omitempty"`
	Principal   *ExplainedPrincipal `json:"principal,omitempty"`
}

// ExplainStep is one step: which method was tried or which rule checked,
// and what came of it.
type ExplainStep = guard.Step

// ExplainedPrincipal is who the request would act as.
type ExplainedPrincipal struct {
	Method       string   `json:"method"`
	Subject      string   `json:"subject,omitempty"`
	TenantID     string   `json:"tenantId,omitempty"`
	AppID        string   `json:"appId,omitempty"`
	ObjectID     string   `json:"objectId,omitempty"`
	Issuer       string   `json:"issuer,omitempty"`
	Roles        []string `json:"roles,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	CredentialID string   `json:"credentialId,omitempty"`
}

// ErrNoSuchAPI is returned by Explain for an API the gateway does not serve.
var ErrNoSuchAPI = errors.New("no such API")

// Explain runs the policy of the API apiName of tenant (name or id) on r,
// as Evaluate would after routing, and records every step. r is not
// changed (the policy runs on a copy). Routing, transport and the
// failed-authentication budget are not part of the dry run.
func (g *Gateway) Explain(tenant, apiName string, r *http.Request) (ExplainResult, error) {
	tid := tenant
	if g.cfg.TenantID != nil {
		if id, ok := g.cfg.TenantID(tenant); ok {
			tid = id
		}
	}
	api := g.routes.Load().byKey[tid+"/"+apiName]
	if api == nil {
		return ExplainResult{}, fmt.Errorf("%w: tenant %s has no API %q the gateway serves", ErrNoSuchAPI, clip(tenant, 64), clip(apiName, 64))
	}
	out := ExplainResult{Tenant: api.TenantID, API: api.Name, Steps: []ExplainStep{}}
	if p := api.problem(); p != "" || !api.compiled {
		out.Status, out.Error, out.Description = http.StatusServiceUnavailable, "temporarily_unavailable", "API "+api.Name+" cannot serve: "+p
		out.Steps = append(out.Steps, ExplainStep{Phase: "compile", Outcome: "failed", Detail: p})
		return out, nil
	}
	rc := r.Clone(r.Context())
	stripClientHeaders(rc.Header)
	api.stripPrincipalHeaders(rc.Header)
	ex := api.policy.Explain(rc)
	out.Steps = append(out.Steps, ex.Steps...)
	if ex.Err != nil {
		out.Status, out.Error, out.Description = ex.Err.Status, ex.Err.Code, ex.Err.Description
		if out.Error == "" {
			out.Error = "unauthorized"
		}
		return out, nil
	}
	out.Allowed, out.Status = true, http.StatusOK
	if p := ex.Principal; p != nil {
		out.Principal = explained(p)
	}
	return out, nil
}

func explained(p *guard.Principal) *ExplainedPrincipal {
	return &ExplainedPrincipal{Method: string(p.Method), Subject: p.Subject, TenantID: p.TenantID, AppID: p.AppID,
		ObjectID: p.ObjectID, Issuer: p.Issuer, Roles: p.Roles, Scopes: p.Scopes, CredentialID: p.CredentialID}
}

// String renders the steps for a terminal.
func (e ExplainResult) String() string {
	var b strings.Builder
	for i, s := range e.Steps {
		what := s.Method
		if what == "" {
			what = s.Rule
		}
		fmt.Fprintf(&b, "%d. %s %s: %s", i+1, s.Phase, what, s.Outcome)
		if s.Detail != "" {
			fmt.Fprintf(&b, " (%s)", s.Detail)
		}
		b.WriteByte('\n')
	}
	if e.Allowed {
		fmt.Fprintf(&b, "=> allowed as %s\n", e.Principal.Subject)
	} else {
		fmt.Fprintf(&b, "=> %d %s: %s\n", e.Status, e.Error, e.Description)
	}
	return b.String()
}
