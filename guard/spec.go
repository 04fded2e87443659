package guard

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/internal/jws"
)

// PolicySpec is a Policy in its stored, JSON form: the format of the
// gateway's API policies, and what a Go API loads to enforce the same rules
// in-process. Methods are tried in order and any one admits the caller;
// then every rule in Rules must hold.
//
// Credentials are never literal in a spec: passwords, API keys and trusted
// CA certificates are references (vault://VAULT/secrets/NAME for the gateway)
// that the caller's resolver turns into values, outside the request path.
type PolicySpec struct {
	// Anonymous makes the API public: every request is admitted without a
	// credential, as MethodAnonymous. It excludes Methods and Rules, so
	// that a public API is always written as such, never the result of an
	// empty list.
	Anonymous bool         `json:"anonymous,omitempty"`
	Methods   []MethodSpec `json:"methods,omitempty"`
	Rules     RulesSpec    `json:"rules,omitzero"`
	// Realm names the API in challenges; the gateway uses the API name when empty.
	Realm string `json:"realm,omitempty"`
}

// Method spec types, the values of MethodSpec.Type.
const (
	SpecBasic             = "basic"
	SpecAPIKey            = "apiKey"
	SpecClientCertificate = "clientCertificate"
	SpecBearer            = "bearer"
)

// MethodSpec is one accepted way to authenticate. Type says which; only
// that type's fields may be set.
type MethodSpec struct {
	Type string `json:"type"`

	// basic: the users and their passwords.
	Users []BasicUserSpec `json:"users,omitempty"`

	// apiKey: where the key is (a header, a query parameter, or both) and
	// the accepted keys, several at once for rollover.
	Header string       `json:"header,omitempty"`
	Query  string       `json:"query,omitempty"`
	Keys   []APIKeySpec `json:"keys,omitempty"`

	// clientCertificate: the certificate must chain to one of TrustedCAs
	// (when set) and match one of Pins (when set); at least one of the two.
	// Validity and the clientAuth extended key usage are always checked.
	TrustedCAs []string             `json:"trustedCAs,omitempty"` // PEM, or a reference to a certificate
	Pins       []CertificatePinSpec `json:"pins,omitempty"`
	// Revocation, when set, also checks that the certificate is not
	// revoked (CRLs, OCSP); it needs trustedCAs.
	Revocation *RevocationSpec `json:"revocation,omitempty"`

	// bearer: who may issue the token, for which audience, signed how.
	Issuers    []IssuerSpec `json:"issuers,omitempty"`
	Audiences  []string     `json:"audiences,omitempty"`
	Algorithms []string     `json:"algorithms,omitempty"` // default: RS256
	// CertificateBound accepts only certificate-bound tokens (RFC 8705
	// §3): the token's cnf x5t#S256 must be the SHA-256 thumbprint of the
	// TLS client certificate of the connection (CertificateBoundBearer).
	// Without it, unbound tokens are accepted too, and a bound one still
	// needs its certificate.
	CertificateBound bool `json:"certificateBound,omitempty"`
}

// BasicUserSpec is one Basic user; Password is a reference to the secret
// that holds the password.
type BasicUserSpec struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// APIKeySpec is one accepted API key; Secret is a reference to the secret
// that holds the key. Name identifies the key in the Principal and the
// audit log (the key itself never appears).
type APIKeySpec struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// CertificatePinSpec accepts a certificate by its thumbprint (SHA-1, 40 hex
// digits, or SHA-256, 64 hex digits; colons and case ignored), or by its
// subject together with its issuer (x509 Name.String() form, "CN=orders,O=Example").
type CertificatePinSpec struct {
	Thumbprint string `json:"thumbprint,omitempty"`
	Subject    string `json:"subject,omitempty"`
	Issuer     string `json:"issuer,omitempty"`
}

// IssuerSpec is one accepted token issuer: a Portcullis tenant (name or id;
// its keys are read in process) or any OIDC issuer URL (Entra ID included;
// keys found by discovery at Issuer + "/.well-known/openid-configuration",
// the discovered issuer must match exactly). Exactly one is set.
type IssuerSpec struct {
	Tenant string `json:"tenant,omitempty"`
	Issuer string `json:"issuer,omitempty"`
}

// RulesSpec is Rules in stored form. Require says how Roles and Scopes
// combine: "any" (the default) admits a caller with one of the roles or one
// of the scopes; "all" requires every listed role and every listed scope.
type RulesSpec struct {
	Roles        []string `json:"roles,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	Require      string   `json:"require,omitempty"`
	Tenants      []string `json:"tenants,omitempty"`
	Applications []string `json:"applications,omitempty"`
	ObjectIDs    []string `json:"objectIds,omitempty"`
}

func (r RulesSpec) empty() bool {
	return len(r.Roles) == 0 && len(r.Scopes) == 0 && r.Require == "" && len(r.Tenants) == 0 &&
		len(r.Applications) == 0 && len(r.ObjectIDs) == 0
}

// Values of RulesSpec.Require.
const (
	RequireAny = "any"
	RequireAll = "all"
)

// Validate reports the first element of the spec that cannot work, naming
// it by its JSON path ("policy.methods[1].keys[0].secret: ...") and saying
// how to fix it. It checks the form only: whether references resolve is the
// resolver's business.
func (s PolicySpec) Validate() error {
	if s.Anonymous {
		if len(s.Methods) > 0 || !s.Rules.empty() {
			return errors.New("policy.anonymous admits every caller without a credential, so policy.methods and policy.rules must be empty: drop them, or drop anonymous")
		}
		return nil
	}
	if len(s.Methods) == 0 {
		return errors.New("policy.methods is empty: add at least one of basic, apiKey, clientCertificate or bearer (or set policy.anonymous for a public API)")
	}
	for i, m := range s.Methods {
		if err := m.validate(); err != nil {
			return fmt.Errorf("policy.methods[%d].%w", i, err)
		}
	}
	switch s.Rules.Require {
	case "", RequireAny, RequireAll:
	default:
		return fmt.Errorf("policy.rules.require %q: use %q or %q", clip(s.Rules.Require, 40), RequireAny, RequireAll)
	}
	return nil
}

func (m MethodSpec) validate() error {
	set := map[string]bool{
		"users": len(m.Users) > 0, "header": m.Header != "", "query": m.Query != "", "keys": len(m.Keys) > 0,
		"trustedCAs": len(m.TrustedCAs) > 0, "pins": len(m.Pins) > 0, "revocation": m.Revocation != nil,
		"issuers": len(m.Issuers) > 0, "audiences": len(m.Audiences) > 0, "algorithms": len(m.Algorithms) > 0,
		"certificateBound": m.CertificateBound,
	}
	own := map[string][]string{
		SpecBasic:             {"users"},
		SpecAPIKey:            {"header", "query", "keys"},
		SpecClientCertificate: {"trustedCAs", "pins", "revocation"},
		SpecBearer:            {"issuers", "audiences", "algorithms", "certificateBound"},
	}
	fields, ok := own[m.Type]
	if !ok {
		return fmt.Errorf("type %q: use basic, apiKey, clientCertificate or bearer", clip(m.Type, 40))
	}
	for _, name := range []string{"users", "header", "query", "keys", "trustedCAs", "pins", "revocation", "issuers", "audiences", "algorithms", "certificateBound"} {
		if set[name] && !slices.Contains(fields, name) {
			return fmt.Errorf("%s does not belong to a %s method (its fields: %s)", name, m.Type, strings.Join(fields, ", "))
		}
	}
	switch m.Type {
	case SpecBasic:
		if len(m.Users) == 0 {
			return errors.New("users is empty: add a user with a name and a password reference")
		}
		for i, u := range m.Users {
			if u.Name == "" || strings.ContainsAny(u.Name, ":\r\n") {
				return fmt.Errorf("users[%d].name %q: a Basic user name must be non-empty and hold no colon or line break", i, clip(u.Name, 40))
			}
			if slices.ContainsFunc(m.Users[:i], func(o BasicUserSpec) bool { return o.Name == u.Name }) {
				return fmt.Errorf("users[%d].name %q: the user is listed twice; list each user once", i, clip(u.Name, 40))
			}
			if u.Password == "" {
				return fmt.Errorf("users[%d].password is empty: give a reference to the secret that holds the password", i)
			}
		}
	case SpecAPIKey:
		if m.Header == "" && m.Query == "" {
			return errors.New("header and query are both empty: set header (for example x-functions-key) or query (for example code), or both")
		}
		if m.Header != "" && canonicalHeader(m.Header) == "" {
			return fmt.Errorf("header %q: not a valid header name (letters, digits and -)", clip(m.Header, 40))
		}
		if len(m.Keys) == 0 {
			return errors.New("keys is empty: add a key with a name and a secret reference")
		}
		for i, k := range m.Keys {
			if k.Name == "" {
				return fmt.Errorf("keys[%d].name is empty: name the key (it identifies the caller in the audit log)", i)
			}
			if slices.ContainsFunc(m.Keys[:i], func(o APIKeySpec) bool { return o.Name == k.Name }) {
				return fmt.Errorf("keys[%d].name %q: the name is used twice; name each key once", i, clip(k.Name, 40))
			}
			if k.Secret == "" {
				return fmt.Errorf("keys[%d].secret is empty: give a reference to the secret that holds the key", i)
			}
		}
	case SpecClientCertificate:
		if len(m.TrustedCAs) == 0 && len(m.Pins) == 0 {
			return errors.New("trustedCAs and pins are both empty: set one (or both); with neither, no certificate could be accepted")
		}
		for i, p := range m.Pins {
			switch {
			case p.Thumbprint != "" && (p.Subject != "" || p.Issuer != ""):
				return fmt.Errorf("pins[%d]: set a thumbprint, or a subject with an issuer, not both", i)
			case p.Thumbprint == "" && (p.Subject == "" || p.Issuer == ""):
				return fmt.Errorf("pins[%d]: a pin by name needs both subject and issuer (a subject alone can be copied by any CA you trust)", i)
			case p.Thumbprint == "" && len(m.TrustedCAs) == 0:
				// Names are not secrets: anyone can make a CA called like the
				// real issuer. Only a chain to a trusted CA makes a name mean
				// something; a thumbprint pin needs none.
				return fmt.Errorf("pins[%d]: a pin by subject and issuer needs trustedCAs (anyone can make a CA with the same name); add the issuing CA to trustedCAs, or pin the certificate by thumbprint", i)
			case p.Thumbprint != "":
				if _, err := parseHexThumbprint(p.Thumbprint); err != nil {
					return fmt.Errorf("pins[%d].thumbprint: %w", i, err)
				}
			}
		}
		if m.Revocation != nil {
			if err := m.Revocation.validate(len(m.TrustedCAs) > 0); err != nil {
				return err
			}
		}
	case SpecBearer:
		if len(m.Issuers) == 0 {
			return errors.New("issuers is empty: add a Portcullis tenant or an OIDC issuer URL")
		}
		for i, is := range m.Issuers {
			if (is.Tenant == "") == (is.Issuer == "") {
				return fmt.Errorf("issuers[%d]: set exactly one of tenant or issuer", i)
			}
		}
		if len(m.Audiences) == 0 {
			return errors.New("audiences is empty: list this API's identifier URI or application id, as tokens carry it in aud")
		}
		for i, a := range m.Audiences {
			if a == "" {
				return fmt.Errorf("audiences[%d] is empty: give this API's identifier URI or application id", i)
			}
		}
		for i, a := range m.Algorithms {
			if jws.NeverAccepted(a) || !slices.Contains(jws.Algorithms, a) {
				return fmt.Errorf("algorithms[%d] %q: not accepted; use a signature algorithm of public keys (%s), never none or HMAC", i, clip(a, 20), strings.Join(jws.Algorithms, ", "))
			}
		}
	}
	return nil
}
