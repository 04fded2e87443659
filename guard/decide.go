package guard

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// Decide runs the policy on r: authenticate with the first authenticator
// that finds its credential, then Rules, then Authorize. It returns the
// admitted Principal, or nil and the refusal. It is the one decision path:
// Middleware and Explain go through it too. Authenticators may change r
// (an API key authenticator removes the key from the header and the
// query), so decide on the request that is then forwarded.
func (p Policy) Decide(r *http.Request) (*Principal, *Error) {
	return p.DecideWithin(r.Context(), r)
}

// DecideWithin is Decide with ctx in place of r's context for this
// package's authenticators (those of CompilePolicy included; others see
// r's). With a context from WithoutWaiting it decides without waiting on
// the network, or refuses with an error wrapping ErrWouldWait: an event
// loop can then decide the request again where waiting holds up no one.
// That holds for this package's key sources and revocation checks; a
// KeySource or checker of your own must honour MustNotWait itself, and
// Policy.Authorize (which sees r's context) must not wait at all.
func (p Policy) DecideWithin(ctx context.Context, r *http.Request) (*Principal, *Error) {
	pr, e := p.decide(ctx, r, nil)
	if e != nil {
		return nil, e
	}
	return pr, nil
}

// decide is Decide with an optional trace; on a refusal by a rule it also
// returns who was refused, for OnRefusal and Explain.
func (p Policy) decide(ctx context.Context, r *http.Request, tr *trace) (*Principal, *Error) {
	pr, e := Chain(p.Authenticators).authenticate(ctx, r, tr)
	if e != nil {
		return nil, e
	}
	if e := p.Rules.authorize(pr, tr); e != nil {
		return pr, e
	}
	if p.Authorize != nil {
		if err := p.Authorize(r, pr); err != nil {
			return pr, tr.failed("authorize", AsError(err))
		}
		tr.held("authorize", func() string {
			if p.AuthorizeHeld != "" {
				return p.AuthorizeHeld
			}
			return "Policy.Authorize admitted the caller"
		})
	}
	return pr, nil
}

// Explanation is what Explain found: every step of the decision in order.
// It holds no credential value: steps name methods, rules and credential
// ids, and quote refusals, which never contain credentials.
type Explanation struct {
	// Principal is who authenticated, also when a rule then refused them;
	// nil when authentication failed.
	Principal *Principal `json:"principal,omitempty"`
	// Err is the refusal; nil when the request is admitted.
	Err   *Error `json:"error,omitempty"`
	Steps []Step `json:"steps"`
}

// Step is one step of a decision.
type Step struct {
	Phase   string `json:"phase"`            // "authenticate" or "authorize"
	Method  string `json:"method,omitempty"` // authenticate: the method tried ("basic", "apiKey", ...)
	Rule    string `json:"rule,omitempty"`   // authorize: the rule checked ("tenants", "rolesOrScopes", "authorize", ...)
	Outcome string `json:"outcome"`          // "absent", "refused" or "admitted"; "held" or "failed"
	Detail  string `json:"detail,omitempty"`
}

// Step phases and outcomes.
const (
	PhaseAuthenticate = "authenticate"
	PhaseAuthorize    = "authorize"

	OutcomeAbsent   = "absent"
	OutcomeRefused  = "refused"
	OutcomeAdmitted = "admitted"
	OutcomeHeld     = "held"
	OutcomeFailed   = "failed"
)

// Explain runs the policy on r exactly as Decide does (and, like it, may
// remove an API key from r), recording each step: which method was tried
// and what it found, which rule held or failed and why. For a support
// page or a "why was I refused" tool; use Decide to serve.
func (p Policy) Explain(r *http.Request) Explanation {
	tr := &trace{}
	pr, e := p.decide(r.Context(), r, tr)
	return Explanation{Principal: pr, Err: e, Steps: tr.steps}
}

// trace records steps; a nil *trace records nothing and costs nothing, so
// that the request path and Explain share one implementation.
type trace struct{ steps []Step }

// A methodNamer names the method an authenticator implements, for traces.
type methodNamer interface{ methodName() string }

func methodOf(a Authenticator) string {
	if n, ok := a.(methodNamer); ok {
		return n.methodName()
	}
	return fmt.Sprintf("%T", a)
}

func (t *trace) absent(a Authenticator) {
	if t == nil {
		return
	}
	d := "the request carries no credential of this kind"
	if de, ok := a.(describer); ok {
		what, _ := de.describe()
		// what reads "a TLS client certificate" where a challenge says "send …"
		d = "the request carries no " + strings.TrimPrefix(what, "a ")
	}
	t.steps = append(t.steps, Step{Phase: PhaseAuthenticate, Method: methodOf(a), Outcome: OutcomeAbsent, Detail: d})
}

func (t *trace) refused(a Authenticator, e *Error) {
	if t == nil {
		return
	}
	t.steps = append(t.steps, Step{Phase: PhaseAuthenticate, Method: methodOf(a), Outcome: OutcomeRefused,
		Detail: fmt.Sprintf("%d %s", e.Status, e.Error())})
}

func (t *trace) admitted(a Authenticator, p *Principal) {
	if t == nil {
		return
	}
	d := fmt.Sprintf("admitted as %q by %s credentials", clip(p.Subject, 200), p.Method)
	if p.CredentialID != "" {
		d += fmt.Sprintf(" (credential %s)", clip(p.CredentialID, 200))
	}
	if p.BoundCertificate != "" {
		d += fmt.Sprintf("; the token is bound to a client certificate (cnf x5t#S256 %s), and the connection presented that certificate", clip(p.BoundCertificate, 64))
	}
	t.steps = append(t.steps, Step{Phase: PhaseAuthenticate, Method: methodOf(a), Outcome: OutcomeAdmitted, Detail: d})
	if c, ok := a.(*specCertificates); ok {
		if rd := c.revocationStep(p); rd != "" {
			t.steps = append(t.steps, Step{Phase: PhaseAuthenticate, Method: methodOf(a), Rule: "revocation", Outcome: OutcomeHeld, Detail: rd})
		}
	}
}

// held records a rule that held; detail is only called when tracing.
func (t *trace) held(rule string, detail func() string) {
	if t == nil {
		return
	}
	t.steps = append(t.steps, Step{Phase: PhaseAuthorize, Rule: rule, Outcome: OutcomeHeld, Detail: detail()})
}

// failed records a rule that failed and returns its refusal.
func (t *trace) failed(rule string, e *Error) *Error {
	if t != nil {
		t.steps = append(t.steps, Step{Phase: PhaseAuthorize, Rule: rule, Outcome: OutcomeFailed,
			Detail: fmt.Sprintf("%d %s", e.Status, e.Error())})
	}
	return e
}
