package guard

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Rules is the authorizer: each non-empty field is a rule the Principal
// must pass, and within a field any one value suffices. Roles and Scopes
// together form one rule: the principal passes with one of the Roles (an
// application permission) or one of the Scopes (a delegated permission),
// as Microsoft.Identity.Web's RequiredScopeOrAppPermission does. With
// RequireAll set instead, the principal must carry every one of the Roles
// and every one of the Scopes (RulesSpec's require: "all").
//
// Roles and scopes match exactly (case-sensitive, as Entra compares
// them). Tenant, application and object ids are GUIDs and match ignoring
// case. Certificate subjects and issuers match x509's Name.String()
// ("CN=orders,O=Example") exactly.
type Rules struct {
	Roles                  []string // roles claim
	Scopes                 []string // scp claim
	Tenants                []string // tid allow-list
	Applications           []string // azp / appid allow-list
	ObjectIDs              []string // oid allow-list
	CertificateSubjects    []string // client certificate subject
	CertificateIssuers     []string // client certificate issuer
	CertificateThumbprints []string // client certificate SHA-256 thumbprint: hex (any case, colons allowed) or base64url
	Methods                []Method // credential kinds accepted
	// RequireAll makes Roles and Scopes all-of: every listed role and every
	// listed scope is required, and a refusal names the missing ones.
	RequireAll bool
}

// Validate reports the first rule value that can never match.
func (r Rules) Validate() error {
	for _, tp := range r.CertificateThumbprints {
		if _, err := parseThumbprint(tp); err != nil {
			return fmt.Errorf("guard: Rules.CertificateThumbprints %q: %w", clip(tp, 100), err)
		}
	}
	for _, m := range r.Methods {
		switch m {
		case MethodBearer, MethodBasic, MethodAPIKey, MethodClientCertificate:
		default:
			return fmt.Errorf("guard: Rules.Methods %q is not a Method; use MethodBearer, MethodBasic, MethodAPIKey or MethodClientCertificate", m)
		}
	}
	return nil
}

// Authorize checks p against the rules. A tenant that is not allowed is
// refused with 401 invalid_token (the token is not for this API at all);
// every other failed rule with 403 insufficient_scope. The description
// names the rule in words.
func (r Rules) Authorize(p *Principal) error {
	if e := r.authorize(p, nil); e != nil {
		return e
	}
	return nil
}

// authorize checks the rules in order; with a trace, it records each rule
// that applies, held or failed. Without one it allocates nothing on
// success: this is the request path.
func (r Rules) authorize(p *Principal, tr *trace) *Error {
	if p == nil {
		return invalidToken("no authenticated principal")
	}
	if len(r.Methods) > 0 {
		if !slices.Contains(r.Methods, p.Method) {
			return tr.failed("methods", insufficientScope(fmt.Sprintf("this API does not accept %s credentials (accepted: %s)", p.Method, joinMethods(r.Methods))))
		}
		tr.held("methods", func() string { return fmt.Sprintf("%s credentials are accepted", p.Method) })
	}
	if len(r.Tenants) > 0 {
		if !containsFold(r.Tenants, p.TenantID) {
			return tr.failed("tenants", invalidToken(fmt.Sprintf("tenant %s is not allowed to call this API (allowed: %s); get a token from an allowed tenant", quoteOr(p.TenantID, "(none)"), clipList(r.Tenants))))
		}
		tr.held("tenants", func() string { return fmt.Sprintf("tenant %s is allowed", quoteOr(p.TenantID, "")) })
	}
	if len(r.Applications) > 0 {
		if !containsFold(r.Applications, p.AppID) {
			return tr.failed("applications", insufficientScope(fmt.Sprintf("application %s is not allowed to call this API (allowed: %s)", quoteOr(p.AppID, "(none)"), clipList(r.Applications))))
		}
		tr.held("applications", func() string { return fmt.Sprintf("application %s is allowed", quoteOr(p.AppID, "")) })
	}
	if len(r.ObjectIDs) > 0 {
		if !containsFold(r.ObjectIDs, p.ObjectID) {
			return tr.failed("objectIds", insufficientScope(fmt.Sprintf("object %s is not allowed to call this API (allowed: %s)", quoteOr(p.ObjectID, "(none)"), clipList(r.ObjectIDs))))
		}
		tr.held("objectIds", func() string { return fmt.Sprintf("object %s is allowed", quoteOr(p.ObjectID, "")) })
	}
	if len(r.Roles) > 0 || len(r.Scopes) > 0 {
		rule := "rolesOrScopes"
		if r.RequireAll {
			rule = "allRolesAndScopes"
			missingRoles := missing(r.Roles, p.Roles)
			missingScopes := missing(r.Scopes, p.Scopes)
			if len(missingRoles) > 0 || len(missingScopes) > 0 {
				return tr.failed(rule, insufficientScope(r.allRefusal(missingRoles, missingScopes)))
			}
			tr.held(rule, func() string {
				return fmt.Sprintf("the caller carries every required role %s and scope %s", clipList(r.Roles), clipList(r.Scopes))
			})
		} else {
			if !slices.ContainsFunc(r.Roles, p.HasRole) && !slices.ContainsFunc(r.Scopes, p.HasScope) {
				return tr.failed(rule, insufficientScope(r.permissionRefusal(p)))
			}
			tr.held(rule, func() string {
				return fmt.Sprintf("the caller carries roles %s and scopes %s, and one of them is required", clipList(p.Roles), clipList(p.Scopes))
			})
		}
	}
	if len(r.CertificateSubjects) > 0 || len(r.CertificateIssuers) > 0 || len(r.CertificateThumbprints) > 0 {
		if p.Certificate == nil {
			return tr.failed("certificate", insufficientScope("this API requires a client certificate, and the request was authenticated without one"))
		}
		c := p.Certificate
		if s := c.Subject.String(); len(r.CertificateSubjects) > 0 && !slices.Contains(r.CertificateSubjects, s) {
			return tr.failed("certificate", insufficientScope(fmt.Sprintf("the client certificate's subject %q is not allowed (allowed: %s)", clip(s, 200), clipList(r.CertificateSubjects))))
		}
		if s := c.Issuer.String(); len(r.CertificateIssuers) > 0 && !slices.Contains(r.CertificateIssuers, s) {
			return tr.failed("certificate", insufficientScope(fmt.Sprintf("the client certificate's issuer %q is not allowed (allowed: %s)", clip(s, 200), clipList(r.CertificateIssuers))))
		}
		if len(r.CertificateThumbprints) > 0 {
			sum := sha256.Sum256(c.Raw)
			if !slices.ContainsFunc(r.CertificateThumbprints, func(tp string) bool {
				want, err := parseThumbprint(tp)
				return err == nil && want == sum
			}) {
				return tr.failed("certificate", insufficientScope(fmt.Sprintf("the client certificate with SHA-256 thumbprint %x is not allowed", sum)))
			}
		}
		tr.held("certificate", func() string {
			return fmt.Sprintf("the client certificate %q is allowed", clip(c.Subject.String(), 200))
		})
	}
	return nil
}

// missing returns the values of want that have lacks.
func missing(want, have []string) []string {
	var m []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			m = append(m, w)
		}
	}
	return m
}

func (r Rules) allRefusal(roles, scopes []string) string {
	var lack []string
	if len(roles) > 0 {
		lack = append(lack, "the roles "+clipList(roles))
	}
	if len(scopes) > 0 {
		lack = append(lack, "the scopes "+clipList(scopes))
	}
	return fmt.Sprintf("this API requires every one of the roles %s and the scopes %s, and the caller lacks %s; an administrator must grant them",
		clipList(r.Roles), clipList(r.Scopes), strings.Join(lack, " and "))
}

func (r Rules) permissionRefusal(p *Principal) string {
	var want []string
	if len(r.Roles) > 0 {
		want = append(want, "one of the roles "+clipList(r.Roles))
	}
	if len(r.Scopes) > 0 {
		want = append(want, "one of the scopes "+clipList(r.Scopes))
	}
	return fmt.Sprintf("the caller carries roles %s and scopes %s, but this API requires %s; an administrator must grant it",
		clipList(p.Roles), clipList(p.Scopes), strings.Join(want, " or "))
}

func containsFold(list []string, v string) bool {
	return v != "" && slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, v) })
}

func quoteOr(s, empty string) string {
	if s == "" {
		return empty
	}
	return fmt.Sprintf("%q", clip(s, 100))
}

func joinMethods(ms []Method) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// Policy is what Middleware enforces.
type Policy struct {
	// Authenticators are tried in order (see Chain); at least one.
	Authenticators []Authenticator
	// Rules the authenticated Principal must pass.
	Rules Rules
	// Authorize, when set, runs after Rules, for decisions Rules cannot
	// express (for example "the client application still exists"). Return
	// an *Error; any other error refuses with 401 invalid_token.
	Authorize func(r *http.Request, p *Principal) error
	// AuthorizeHeld says in words what held when Authorize admitted a
	// caller ("the client application still exists"), for the steps
	// Explain records; by default they say only that Policy.Authorize
	// admitted the caller.
	AuthorizeHeld string
	// Realm names the protected API in challenges (RFC 6750 §3).
	Realm string
	// OnRefusal, when set, is told of every refusal, for audit and logs.
	// p is nil when authentication failed. It never receives a credential.
	OnRefusal func(r *http.Request, p *Principal, err *Error)
}

// Validate reports a policy that cannot work.
func (p Policy) Validate() error {
	if len(p.Authenticators) == 0 {
		return errors.New("guard: Policy.Authenticators is empty: add guard.Bearer(verifier) or another authenticator")
	}
	for i, a := range p.Authenticators {
		if a == nil {
			return fmt.Errorf("guard: Policy.Authenticators[%d] is nil", i)
		}
	}
	return p.Rules.Validate()
}

// Middleware protects next with p: authenticate (first authenticator
// that finds its credential), authorize (Rules, then Authorize), put the
// Principal in the request context (PrincipalFrom), call next; the
// decision is Policy.Decide's. Refusals are written by WriteError and
// reported to OnRefusal. It panics if p is not valid (see
// Policy.Validate), as a misconfigured API must not start.
func Middleware(next http.Handler, p Policy) http.Handler {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	p.Authenticators = slices.Clone(p.Authenticators)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr, e := p.decide(r.Context(), r, nil)
		if e != nil {
			if p.OnRefusal != nil {
				p.OnRefusal(r, pr, e)
			}
			WriteError(w, p.Realm, e)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), pr)))
	})
}
