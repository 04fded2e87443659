package guard

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"slices"
	"time"
)

// Method names the kind of credential a Principal presented.
type Method string

// The credential kinds guard's authenticators recognise.
const (
	MethodBearer            Method = "bearer"
	MethodBasic             Method = "basic"
	MethodAPIKey            Method = "apiKey"
	MethodClientCertificate Method = "clientCertificate"
	// MethodAnonymous is the Principal of a public API (PolicySpec.Anonymous):
	// no credential was asked for.
	MethodAnonymous Method = "anonymous"
)

// Principal is who a request acts as, whatever credential it presented.
// Principals handed out by guard (notably from the Verifier's cache) are
// shared between requests: treat them as read-only, and copy before
// changing.
type Principal struct {
	Method   Method
	Subject  string   // sub
	TenantID string   // tid
	AppID    string   // the client application: azp, else appid
	ObjectID string   // oid
	Issuer   string   // iss
	Audience []string // aud
	Roles    []string // roles (app permissions)
	Scopes   []string // scp (delegated permissions)
	TokenID  string   // uti, else jti
	// ExpiresAt is when the credential stops being valid (exp for a token);
	// zero when it does not expire.
	ExpiresAt time.Time
	// RawClaims is the verified JWT payload for a bearer token; nil otherwise.
	RawClaims json.RawMessage
	// Certificate is the client certificate, for MethodClientCertificate.
	Certificate *x509.Certificate
	// BoundCertificate is a bearer token's confirmation claim
	// cnf["x5t#S256"] (RFC 8705 §3.1): the base64url SHA-256 thumbprint of
	// the client certificate the token is bound to; "" for a token that is
	// not bound. The Bearer authenticators check it against the
	// connection's client certificate; Verifier.Verify alone does not.
	BoundCertificate string
	// CredentialID identifies the credential used, never its value: the
	// token id for a bearer token, a secret's or API key's id, a
	// certificate's SHA-256 thumbprint.
	CredentialID string
}

// Claim returns the value of one claim of a bearer token, decoded as
// encoding/json decodes into an any (strings, float64, []any, map[string]any).
func (p *Principal) Claim(name string) (any, bool) {
	if p == nil || len(p.RawClaims) == 0 {
		return nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(p.RawClaims, &m) != nil {
		return nil, false
	}
	raw, ok := m[name]
	if !ok {
		return nil, false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	return v, true
}

// HasRole reports whether the principal carries the role (exact match).
func (p *Principal) HasRole(role string) bool { return p != nil && slices.Contains(p.Roles, role) }

// HasScope reports whether the principal carries the scope (exact match).
func (p *Principal) HasScope(scope string) bool { return p != nil && slices.Contains(p.Scopes, scope) }

type principalKey struct{}

// WithPrincipal returns a copy of ctx that carries p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the Principal that Middleware put in ctx.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}
