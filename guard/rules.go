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
// as Microsoft.Identity.Web's RequiredScopeOrAppPermission does.
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
	if p == nil {
		return invalidToken("no authenticated principal")
	}
	if len(r.Methods) > 0 && !slices.Contains(r.Methods, p.Method) {
		return insufficientScope(fmt.Sprintf("this API does not accept %s credentials (accepted: %s)", p.Method, joinMethods(r.Methods)))
	}
	if len(r.Tenants) > 0 && !containsFold(r.Tenants, p.TenantID) {
		return invalidToken(fmt.Sprintf("tenant %s is not allowed to call this API (allowed: %s); get a token from an allowed tenant", quoteOr(p.TenantID, "(none)"), clipList(r.Tenants)))
	}
	if len(r.Applications) > 0 && !containsFold(r.Applications, p.AppID) {
		return insufficientScope(fmt.Sprintf("application %s is not allowed to call this API (allowed: %s)", quoteOr(p.AppID, "(none)"), clipList(r.Applications)))
	}
	if len(r.ObjectIDs) > 0 && !containsFold(r.ObjectIDs, p.ObjectID) {
		return insufficientScope(fmt.Sprintf("object %s is not allowed to call this API (allowed: %s)", quoteOr(p.ObjectID, "(none)"), clipList(r.ObjectIDs)))
	}
	if len(r.Roles) > 0 || len(r.Scopes) > 0 {
		ok := slices.ContainsFunc(r.Roles, p.HasRole) || slices.ContainsFunc(r.Scopes, p.HasScope)
		if !ok {
			return insufficientScope(r.permissionRefusal(p))
		}
	}
	if len(r.CertificateSubjects) > 0 || len(r.CertificateIssuers) > 0 || len(r.CertificateThumbprints) > 0 {
		if p.Certificate == nil {
			return insufficientScope("this API requires a client certificate, and the request was authenticated without one")
		}
		c := p.Certificate
		if s := c.Subject.String(); len(r.CertificateSubjects) > 0 && !slices.Contains(r.CertificateSubjects, s) {
			return insufficientScope(fmt.Sprintf("the client certificate's subject %q is not allowed (allowed: %s)", clip(s, 200), clipList(r.CertificateSubjects)))
		}
		if s := c.Issuer.String(); len(r.CertificateIssuers) > 0 && !slices.Contains(r.CertificateIssuers, s) {
			return insufficientScope(fmt.Sprintf("the client certificate's issuer %q is not allowed (allowed: %s)", clip(s, 200), clipList(r.CertificateIssuers)))
		}
		if len(r.CertificateThumbprints) > 0 {
			sum := sha256.Sum256(c.Raw)
			if !slices.ContainsFunc(r.CertificateThumbprints, func(tp string) bool {
				want, err := parseThumbprint(tp)
				return err == nil && want == sum
			}) {
				return insufficientScope(fmt.Sprintf("the client certificate with SHA-256 thumbprint %x is not allowed", sum))
			}
		}
	}
	return nil
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
// Principal in the request context (PrincipalFrom), call next. Refusals
// are written by WriteError and reported to OnRefusal. It panics if p is
// not valid (see Policy.Validate), as a misconfigured API must not start.
func Middleware(next http.Handler, p Policy) http.Handler {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	chain := Chain(slices.Clone(p.Authenticators))
	refuse := func(w http.ResponseWriter, r *http.Request, pr *Principal, err error) {
		e := AsError(err)
		if p.OnRefusal != nil {
			p.OnRefusal(r, pr, e)
		}
		WriteError(w, p.Realm, e)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr, err := chain.Authenticate(r)
		if err != nil {
			refuse(w, r, nil, err)
			return
		}
		if err := p.Rules.Authorize(pr); err != nil {
			refuse(w, r, pr, err)
			return
		}
		if p.Authorize != nil {
			if err := p.Authorize(r, pr); err != nil {
				refuse(w, r, pr, err)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), pr)))
	})
}
