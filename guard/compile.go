package guard

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// SecretValue is one resolved version of a secret; immutable: a new
// version is a new SecretValue.
type SecretValue struct {
	Value   []byte
	Version string
}

// A SecretRef is a live view of one referenced secret. Current is called
// on the request path: it must do no I/O and should not allocate. It
// returns nil while the secret is not (yet) available; the authenticator
// then answers 503 temporarily_unavailable, never 401.
type SecretRef interface {
	Current() *SecretValue
}

// SpecResolver turns a spec's references into what authenticators check
// against. CompilePolicy calls it, never the request path. Its errors
// must not contain secret values.
type SpecResolver interface {
	// Secret resolves a Basic password or API key reference.
	Secret(ref string) (SecretRef, error)
	// Certificates resolves one trustedCAs entry: PEM text or a reference.
	Certificates(ref string) ([]*x509.Certificate, error)
	// Issuer resolves a tenant or an OIDC issuer URL to the exact iss its
	// tokens carry and the source of its signing keys.
	Issuer(spec IssuerSpec) (issuer string, keys KeySource, err error)
}

// CompileOptions tunes CompilePolicy; the zero value is a sound default.
type CompileOptions struct {
	// Now is the clock for certificate validity and token times (default time.Now).
	Now func() time.Time
	// Realm names the API in challenges when the spec has no realm.
	Realm string
	// CacheSize bounds each bearer method's verified-token cache (default
	// DefaultCacheSize; negative disables it).
	CacheSize int
	// OnRevocation, when set, is told the outcome of each revocation check
	// of a client certificate (RevocationGood, RevocationRevoked,
	// RevocationUnknown, RevocationUnavailable) and what it was about (no
	// secrets): for metrics and logs. When nil, checks that admit a
	// certificate without a usable answer (soft mode) are logged with
	// slog.Default.
	OnRevocation func(outcome, detail string)
	// OCSPClient makes OCSP requests (default: http.DefaultClient's
	// transport); OCSPTimeout bounds each (default DefaultOCSPTimeout).
	OCSPClient  *http.Client
	OCSPTimeout time.Duration
}

// CompilePolicy builds the Policy a PolicySpec describes: the spec is
// validated, its references resolved with res, and each method becomes an
// Authenticator (tried in the spec's order) and rules become Rules. Errors
// name the JSON path of what is wrong ("policy.methods[2].keys[0].secret: ...").
//
// The Policy reads secrets through their SecretRefs on each request, so a
// rotated password or key takes effect without compiling again; trusted
// CAs, pins and issuers are fixed until the next compile.
func CompilePolicy(spec PolicySpec, res SpecResolver, opts CompileOptions) (Policy, error) {
	if err := spec.Validate(); err != nil {
		return Policy{}, err
	}
	if res == nil {
		return Policy{}, errors.New("guard: CompilePolicy needs a SpecResolver to resolve the policy's references")
	}
	if spec.Anonymous {
		return Policy{Authenticators: []Authenticator{anonymous{}}, Realm: cmp.Or(spec.Realm, opts.Realm)}, nil
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	auths := make([]Authenticator, 0, len(spec.Methods))
	for i, m := range spec.Methods {
		path := fmt.Sprintf("policy.methods[%d]", i)
		var a Authenticator
		var err error
		switch m.Type {
		case SpecBasic:
			a, err = compileBasic(m, path, res)
		case SpecAPIKey:
			a, err = compileAPIKey(m, path, res)
		case SpecClientCertificate:
			a, err = compileCertificate(m, path, res, now, opts)
		case SpecBearer:
			a, err = compileBearer(m, path, res, now, opts.CacheSize)
		}
		if err != nil {
			return Policy{}, err
		}
		auths = append(auths, a)
	}
	r := spec.Rules
	p := Policy{
		Authenticators: auths,
		Rules: Rules{
			Roles:        slices.Clone(r.Roles),
			Scopes:       slices.Clone(r.Scopes),
			RequireAll:   r.Require == RequireAll,
			Tenants:      slices.Clone(r.Tenants),
			Applications: slices.Clone(r.Applications),
			ObjectIDs:    slices.Clone(r.ObjectIDs),
		},
		Realm: cmp.Or(spec.Realm, opts.Realm),
	}
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// isNil reports a nil interface or one holding a nil pointer, which a
// resolver may return by mistake and which would panic on the request path.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Interface, reflect.Slice, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

func resolveSecret(res SpecResolver, ref, path string) (*secretDigest, error) {
	s, err := res.Secret(ref)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if isNil(s) {
		return nil, fmt.Errorf("%s: the resolver returned no secret for %q", path, clip(ref, 200))
	}
	return &secretDigest{ref: s}, nil
}

// secretDigest is a SecretRef with the SHA-256 of its current value, and
// the Principal that value admits, computed once per version: the request
// path compares digests and hands out the shared Principal, with no
// hashing of the secret and no allocation.
type secretDigest struct {
	ref  SecretRef
	last atomic.Pointer[digest]
}

type digest struct {
	v   *SecretValue
	sum [sha256.Size]byte
	p   *Principal
}

// current returns the digest of the current value, nil while there is
// none; mk makes the Principal for a new version.
func (s *secretDigest) current(mk func(version string) *Principal) *digest {
	v := s.ref.Current()
	if v == nil {
		return nil
	}
	if d := s.last.Load(); d != nil && d.v == v {
		return d
	}
	d := &digest{v: v, sum: sha256.Sum256(v.Value), p: mk(v.Version)}
	s.last.Store(d)
	return d
}

// fakeUser is the secret an unknown Basic user's password is compared
// with, so that an unknown user costs the same as a wrong password: a
// random value nobody knows, its digest computed once.
func fakeUser() *secretDigest {
	v := &SecretValue{Value: make([]byte, 32), Version: "fake"}
	rand.Read(v.Value)
	d := &secretDigest{ref: fixedSecret{v}}
	d.current(func(string) *Principal { return nil })
	return d
}

type fixedSecret struct{ v *SecretValue }

func (f fixedSecret) Current() *SecretValue { return f.v }

func compileBasic(m MethodSpec, path string, res SpecResolver) (Authenticator, error) {
	sp := &specPasswords{users: make(map[string]*secretDigest, len(m.Users)), fake: fakeUser()}
	for j, u := range m.Users {
		d, err := resolveSecret(res, u.Password, fmt.Sprintf("%s.users[%d].password", path, j))
		if err != nil {
			return nil, err
		}
		sp.users[u.Name] = d
	}
	return Basic(sp), nil
}

func compileAPIKey(m MethodSpec, path string, res SpecResolver) (Authenticator, error) {
	a := &specAPIKey{query: m.Query}
	if m.Header != "" {
		a.header = canonicalHeader(m.Header) // a valid token: Validate checked
	}
	for j, k := range m.Keys {
		d, err := resolveSecret(res, k.Secret, fmt.Sprintf("%s.keys[%d].secret", path, j))
		if err != nil {
			return nil, err
		}
		a.keys = append(a.keys, namedKey{name: k.Name, secret: d})
	}
	return a, nil
}

func compileCertificate(m MethodSpec, path string, res SpecResolver, now func() time.Time, opts CompileOptions) (Authenticator, error) {
	c := &specCertificates{now: now}
	if len(m.TrustedCAs) > 0 {
		c.roots = x509.NewCertPool()
		for j, ref := range m.TrustedCAs {
			certs, err := res.Certificates(ref)
			if err != nil {
				return nil, fmt.Errorf("%s.trustedCAs[%d]: %w", path, j, err)
			}
			if len(certs) == 0 {
				return nil, fmt.Errorf("%s.trustedCAs[%d]: no certificate found; give PEM text or a reference to a certificate", path, j)
			}
			for _, ca := range certs {
				c.roots.AddCert(ca)
			}
		}
	}
	for j, ps := range m.Pins {
		var pin certificatePin
		if ps.Thumbprint != "" {
			b, err := parseHexThumbprint(ps.Thumbprint) // checked by Validate
			if err != nil {
				return nil, fmt.Errorf("%s.pins[%d].thumbprint: %w", path, j, err)
			}
			pin.thumbprint = b
			c.sha1Pins = c.sha1Pins || len(b) == 20
		} else {
			pin.subject, pin.issuer = ps.Subject, ps.Issuer
			c.namePins = true
		}
		c.pins = append(c.pins, pin)
	}
	if m.Revocation != nil {
		rv, err := compileRevocation(*m.Revocation, path+".revocation", res, opts)
		if err != nil {
			return nil, err
		}
		c.revocation = rv
	}
	return c, nil
}

func compileRevocation(spec RevocationSpec, path string, res SpecResolver, opts CompileOptions) (*revocation, error) {
	rv := &revocation{crlSoft: spec.CRLMode == RevocationSoft, ocsp: spec.OCSP, client: opts.OCSPClient,
		timeout: cmp.Or(opts.OCSPTimeout, DefaultOCSPTimeout), report: opts.OnRevocation}
	if rv.client == nil {
		rv.client = http.DefaultClient
	}
	if rv.report == nil {
		rv.report = func(outcome, detail string) {
			if outcome == RevocationUnavailable || outcome == RevocationUnknown {
				slog.Default().Warn("guard: client certificate revocation could not be checked", "outcome", outcome, "detail", detail)
			}
		}
	}
	for j, ref := range spec.CRLs {
		e := &crlEntry{name: fmt.Sprintf("%s.crls[%d]", path, j)}
		switch {
		case strings.Contains(ref, "-----BEGIN"):
			l, err := ParseCRL([]byte(ref))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.name, err)
			}
			e.src = fixedCRL{l}
		default:
			cr, ok := res.(CRLResolver)
			if !ok {
				return nil, fmt.Errorf("%s: this resolver resolves no CRL references or URLs; give the CRL as PEM text", e.name)
			}
			src, err := cr.CRL(ref)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.name, err)
			}
			if isNil(src) {
				return nil, fmt.Errorf("%s: the resolver returned no CRL for %q", e.name, clip(ref, 200))
			}
			e.src = src
			if IsCRLURL(ref) {
				e.name += " (" + redactURL(ref) + ")"
			} else {
				e.name += " (" + clip(ref, 200) + ")"
			}
		}
		rv.crls = append(rv.crls, e)
	}
	rv.seen = make([]atomic.Pointer[x509.RevocationList], len(rv.crls))
	return rv, nil
}

func compileBearer(m MethodSpec, path string, res SpecResolver, now func() time.Time, cacheSize int) (Authenticator, error) {
	keys := IssuerKeys{}
	issuers := make([]string, 0, len(m.Issuers))
	for j, is := range m.Issuers {
		iss, ks, err := res.Issuer(is)
		if err != nil {
			return nil, fmt.Errorf("%s.issuers[%d]: %w", path, j, err)
		}
		if iss == "" || isNil(ks) {
			return nil, fmt.Errorf("%s.issuers[%d]: the resolver returned no issuer or no key source", path, j)
		}
		if _, dup := keys[iss]; dup {
			return nil, fmt.Errorf("%s.issuers[%d]: issuer %q is listed twice; list each issuer once", path, j, clip(iss, 200))
		}
		keys[iss] = ks
		issuers = append(issuers, iss)
	}
	algs := m.Algorithms // checked by Validate
	if len(algs) == 0 {
		algs = []string{"RS256"}
	}
	v, err := NewVerifier(VerifierConfig{Keys: keys, Issuers: issuers, Audiences: slices.Clone(m.Audiences),
		Algorithms: slices.Clone(algs), Now: now, CacheSize: cacheSize})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.CertificateBound {
		return CertificateBoundBearer(v), nil
	}
	return Bearer(v), nil
}

// anonymous admits every request, for a public API (PolicySpec.Anonymous).
type anonymous struct{}

// anonymousPrincipal is shared: Principals are read-only.
var anonymousPrincipal = &Principal{Method: MethodAnonymous, Subject: "anonymous"}

func (anonymous) Authenticate(*http.Request) (*Principal, error) { return anonymousPrincipal, nil }
func (anonymous) methodName() string                             { return string(MethodAnonymous) }
