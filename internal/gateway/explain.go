package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
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
// and what came of it. Besides guard's phases the gateway records
// "route" (the request is not one the API's match takes) and "compile"
// (the API cannot serve).
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
// changed (the policy runs on a copy). First it checks r against the
// API's own match, as routing would: a method the API does not accept is
// 405, a path outside its prefix (or a Host it does not serve, when r has
// one) is 404, with a "route" step saying so; r without a path is
// explained on the API's path prefix. Which other API might take r,
// transport and the failed-authentication budget are not part of the dry
// run.
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
	rc := r.Clone(r.Context())
	if api.routable { // routing comes first, as in Evaluate; an unroutable API has a problem
		if rc.URL.Path == "" {
			rc.URL.Path = api.prefix
		}
		if st, ok := api.explainRoute(rc); !ok {
			out.Steps = append(out.Steps, st.step)
			out.Status, out.Error, out.Description = st.status, st.code, st.description
			return out, nil
		}
	}
	if p := api.problem(); p != "" || !api.compiled {
		out.Status, out.Error, out.Description = http.StatusServiceUnavailable, "temporarily_unavailable", "API "+api.Name+" cannot serve: "+p
		out.Steps = append(out.Steps, ExplainStep{Phase: "compile", Outcome: "failed", Detail: p})
		return out, nil
	}
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

// routeRefusal is what the gateway answers a request that does not
// match the API it was explained for.
type routeRefusal struct {
	step              ExplainStep
	status            int
	code, description string
}

// explainRoute checks r against the API's match, as Evaluate's routing
// does: a normalised path under the prefix, the Host (only when r names
// one) and the method. ok is false with the refusal when it does not match.
func (a *API) explainRoute(r *http.Request) (ref routeRefusal, ok bool) {
	path, host := r.URL.Path, hostKey(r.Host)
	fail := func(status int, code, desc string) (routeRefusal, bool) {
		return routeRefusal{step: ExplainStep{Phase: "route", Outcome: guard.OutcomeFailed, Detail: desc},
			status: status, code: code, description: desc}, false
	}
	switch {
	case !cleanPath(path) || path[0] != '/':
		return fail(http.StatusBadRequest, "invalid_request",
			"the path "+clip(path, 200)+" has an empty, \".\" or \"..\" segment; the gateway refuses it before routing")
	case a.prefix != "/" && path != a.prefix && !strings.HasPrefix(path, a.prefix+"/"):
		return fail(http.StatusNotFound, "not_found",
			"the path "+clip(path, 200)+" is not under this API's path prefix "+a.prefix+"; the gateway does not route it here: give a path under the prefix")
	case host != "" && len(a.hosts) > 0 && !slices.ContainsFunc(a.hosts, func(k string) bool { return hostMatches(k, host) }):
		return fail(http.StatusNotFound, "not_found",
			"the Host "+clip(host, 100)+" is not one of this API's hosts ("+strings.Join(a.hosts, ", ")+"); the gateway does not route it here")
	case !a.acceptsMethod(r.Method):
		allow := strings.Join(a.methods, ", ")
		return fail(http.StatusMethodNotAllowed, "method_not_allowed",
			"this API does not accept "+clip(r.Method, 20)+"; it accepts "+allow)
	}
	return routeRefusal{}, true
}

// hostMatches reports whether the router key k (a host name, or
// "*.example.com" for one label) serves host, a hostKey.
func hostMatches(k, host string) bool {
	if suffix, ok := strings.CutPrefix(k, "*."); ok {
		i := strings.IndexByte(host, '.')
		return i > 0 && host[i+1:] == suffix
	}
	return k == host
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
