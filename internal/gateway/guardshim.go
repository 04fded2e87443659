package gateway

// TEMPORARY: replaced by guard's own at merge.
//
// guard is gaining CompilePolicy, Policy.Decide, Policy.Explain, SecretRef,
// SecretValue and SpecResolver in parallel. This file holds minimal local
// copies under lower-case names so the gateway builds and is tested today.
// At merge, delete everything below and keep only:
//
//	type (
//		secretValue    = guard.SecretValue
//		secretRef      = guard.SecretRef
//		specResolver   = guard.SpecResolver
//		compileOptions = guard.CompileOptions
//		explanation    = guard.Explanation
//		policy         = guard.Policy
//	)
//
//	func compilePolicy(s guard.PolicySpec, r specResolver, o compileOptions) (policy, error) {
//		return guard.CompilePolicy(s, r, o)
//	}

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/guard"
)

type secretValue struct {
	Value   []byte
	Version string
}

type secretRef interface{ Current() *secretValue }

type specResolver interface {
	Secret(ref string) (secretRef, error)
	Certificates(ref string) ([]*x509.Certificate, error)
	Issuer(spec guard.IssuerSpec) (issuer string, keys guard.KeySource, err error)
}

type compileOptions struct {
	Now       func() time.Time
	Realm     string
	CacheSize int
}

type step struct{ Phase, Method, Rule, Outcome, Detail string }

type explanation struct {
	Principal *guard.Principal
	Err       *guard.Error
	Steps     []step
}

type policy struct {
	guard.Policy
	kinds   []string
	require string
}

var errSecretUnavailable = &guard.Error{Status: http.StatusServiceUnavailable, Code: guard.CodeTemporarilyUnavailable,
	Description: "the credentials of this API are not loaded yet; retry later"}

func compilePolicy(s guard.PolicySpec, res specResolver, o compileOptions) (policy, error) {
	if err := s.Validate(); err != nil {
		return policy{}, err
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	p := policy{Policy: guard.Policy{Realm: o.Realm, Rules: guard.Rules{Roles: s.Rules.Roles, Scopes: s.Rules.Scopes,
		Tenants: s.Rules.Tenants, Applications: s.Rules.Applications, ObjectIDs: s.Rules.ObjectIDs}}, require: s.Rules.Require}
	if p.require == guard.RequireAll {
		p.Rules.Roles, p.Rules.Scopes = nil, nil
	}
	for i, m := range s.Methods {
		a, err := shimMethod(m, res, now, o.CacheSize)
		if err != nil {
			return policy{}, fmt.Errorf("policy.methods[%d]: %w", i, err)
		}
		p.Authenticators = append(p.Authenticators, a)
		p.kinds = append(p.kinds, m.Type)
	}
	if p.require == guard.RequireAll {
		roles, scopes := s.Rules.Roles, s.Rules.Scopes
		p.Authorize = func(_ *http.Request, pr *guard.Principal) error {
			for _, r := range roles {
				if !pr.HasRole(r) {
					return &guard.Error{Status: 403, Code: guard.CodeInsufficientScope, Description: "the caller lacks the role " + r}
				}
			}
			for _, sc := range scopes {
				if !pr.HasScope(sc) {
					return &guard.Error{Status: 403, Code: guard.CodeInsufficientScope, Description: "the caller lacks the scope " + sc}
				}
			}
			return nil
		}
	}
	return p, nil
}

func shimMethod(m guard.MethodSpec, res specResolver, now func() time.Time, cacheSize int) (guard.Authenticator, error) {
	switch m.Type {
	case guard.SpecBasic:
		users := map[string]secretRef{}
		for i, u := range m.Users {
			ref, err := res.Secret(u.Password)
			if err != nil {
				return nil, fmt.Errorf("users[%d].password: %w", i, err)
			}
			users[u.Name] = ref
		}
		return guard.Basic(shimBasic(users)), nil
	case guard.SpecAPIKey:
		a := &shimAPIKey{header: http.CanonicalHeaderKey(m.Header), query: m.Query}
		for i, k := range m.Keys {
			ref, err := res.Secret(k.Secret)
			if err != nil {
				return nil, fmt.Errorf("keys[%d].secret: %w", i, err)
			}
			a.names = append(a.names, k.Name)
			a.keys = append(a.keys, ref)
		}
		return a, nil
	case guard.SpecClientCertificate:
		c := &shimCert{now: now, sha1: map[[20]byte]bool{}, sha256: map[[32]byte]bool{}}
		if len(m.TrustedCAs) > 0 {
			c.roots = x509.NewCertPool()
			for i, ca := range m.TrustedCAs {
				certs, err := res.Certificates(ca)
				if err != nil {
					return nil, fmt.Errorf("trustedCAs[%d]: %w", i, err)
				}
				for _, cert := range certs {
					c.roots.AddCert(cert)
				}
			}
		}
		for i, pin := range m.Pins {
			tp := strings.ToLower(strings.ReplaceAll(pin.Thumbprint, ":", ""))
			b, err := hex.DecodeString(tp)
			switch {
			case pin.Thumbprint == "":
				c.names = append(c.names, [2]string{pin.Subject, pin.Issuer})
			case err == nil && len(b) == 20:
				c.sha1[[20]byte(b)] = true
			case err == nil && len(b) == 32:
				c.sha256[[32]byte(b)] = true
			default:
				return nil, fmt.Errorf("pins[%d].thumbprint: not 40 or 64 hex digits", i)
			}
		}
		return guard.ClientCertificate(c), nil
	case guard.SpecBearer:
		keys := guard.IssuerKeys{}
		var issuers []string
		for i, is := range m.Issuers {
			iss, ks, err := res.Issuer(is)
			if err != nil {
				return nil, fmt.Errorf("issuers[%d]: %w", i, err)
			}
			keys[iss] = ks
			issuers = append(issuers, iss)
		}
		v, err := guard.NewVerifier(guard.VerifierConfig{Keys: keys, Issuers: issuers, Audiences: m.Audiences,
			Algorithms: m.Algorithms, Now: now, CacheSize: cacheSize})
		if err != nil {
			return nil, err
		}
		return guard.Bearer(v), nil
	}
	return nil, fmt.Errorf("type %q is not supported", m.Type)
}

type shimBasic map[string]secretRef

func (b shimBasic) CheckPassword(_ context.Context, user, password string) (*guard.Principal, error) {
	ref, ok := b[user]
	want := []byte("\x00not a password")
	version := ""
	if ok {
		cur := ref.Current()
		if cur == nil {
			return nil, errSecretUnavailable
		}
		want, version = cur.Value, cur.Version
	}
	got, exp := sha256.Sum256([]byte(password)), sha256.Sum256(want)
	if subtle.ConstantTimeCompare(got[:], exp[:]) != 1 || !ok {
		return nil, &guard.Error{Status: 401, Code: guard.CodeInvalidToken, Description: "the user name or password is wrong"}
	}
	return &guard.Principal{Method: guard.MethodBasic, Subject: user, CredentialID: "basic:" + user + "@" + version}, nil
}

type shimAPIKey struct {
	header, query string
	names         []string
	keys          []secretRef
}

func (a *shimAPIKey) Authenticate(r *http.Request) (*guard.Principal, error) {
	var presented string
	var found bool
	if a.header != "" {
		if vs := r.Header.Values(a.header); len(vs) > 0 {
			presented, found = vs[0], true
			r.Header.Del(a.header)
		}
	}
	if a.query != "" && r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err == nil && q.Has(a.query) {
			if !found {
				presented, found = q.Get(a.query), true
			}
			q.Del(a.query)
			r.URL.RawQuery = q.Encode()
		}
	}
	if !found {
		return nil, guard.ErrNoCredentials
	}
	got := sha256.Sum256([]byte(presented))
	match := -1
	for i, k := range a.keys {
		cur := k.Current()
		if cur == nil {
			return nil, errSecretUnavailable
		}
		want := sha256.Sum256(cur.Value)
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return nil, &guard.Error{Status: 401, Code: guard.CodeInvalidToken, Description: "the API key is not valid for this API"}
	}
	v := a.keys[match].Current()
	return &guard.Principal{Method: guard.MethodAPIKey, Subject: a.names[match], CredentialID: "apiKey:" + a.names[match] + "@" + v.Version}, nil
}

type shimCert struct {
	now    func() time.Time
	roots  *x509.CertPool
	sha1   map[[20]byte]bool
	sha256 map[[32]byte]bool
	names  [][2]string
}

func (c *shimCert) CheckCertificate(_ context.Context, cert *x509.Certificate, _ [][]*x509.Certificate) (*guard.Principal, error) {
	refuse := func(d string) (*guard.Principal, error) {
		return nil, &guard.Error{Status: 401, Code: guard.CodeInvalidToken, Description: d}
	}
	now := c.now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return refuse("the client certificate is not valid now")
	}
	if c.roots != nil {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: c.roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			return refuse("the client certificate is not trusted by this API")
		}
	}
	s256 := sha256.Sum256(cert.Raw)
	if len(c.sha1) > 0 || len(c.sha256) > 0 || len(c.names) > 0 {
		s1 := sha1.Sum(cert.Raw)
		ok := c.sha1[s1] || c.sha256[s256] || slices.Contains(c.names, [2]string{cert.Subject.String(), cert.Issuer.String()})
		if !ok {
			return refuse(fmt.Sprintf("the client certificate with SHA-256 thumbprint %x matches no pin of this API", s256))
		}
	}
	return &guard.Principal{Method: guard.MethodClientCertificate, Subject: cert.Subject.String(), Certificate: cert,
		CredentialID: hex.EncodeToString(s256[:])}, nil
}

func (p policy) Decide(r *http.Request) (*guard.Principal, *guard.Error) {
	pr, err := guard.Chain(p.Authenticators).Authenticate(r)
	if err != nil {
		return nil, guard.AsError(err)
	}
	if err := p.Rules.Authorize(pr); err != nil {
		return nil, guard.AsError(err)
	}
	if p.Authorize != nil {
		if err := p.Authorize(r, pr); err != nil {
			return nil, guard.AsError(err)
		}
	}
	return pr, nil
}

func (p policy) Explain(r *http.Request) explanation {
	var ex explanation
	for i, a := range p.Authenticators {
		pr, err := a.Authenticate(r)
		switch {
		case errors.Is(err, guard.ErrNoCredentials):
			ex.Steps = append(ex.Steps, step{Phase: "authenticate", Method: p.kinds[i], Outcome: "absent", Detail: "no credential of this kind"})
			continue
		case err != nil:
			ex.Err = guard.AsError(err)
			ex.Steps = append(ex.Steps, step{Phase: "authenticate", Method: p.kinds[i], Outcome: "refused", Detail: ex.Err.Description})
			return ex
		}
		ex.Steps = append(ex.Steps, step{Phase: "authenticate", Method: p.kinds[i], Outcome: "admitted", Detail: "admitted as " + pr.Subject})
		ex.Principal = pr
		break
	}
	if ex.Principal == nil {
		_, ex.Err = p.Decide(r)
		return ex
	}
	if err := p.Rules.Authorize(ex.Principal); err != nil {
		ex.Err = guard.AsError(err)
		ex.Steps = append(ex.Steps, step{Phase: "authorize", Rule: "rules", Outcome: "failed", Detail: ex.Err.Description})
		return ex
	}
	if p.Authorize != nil {
		if err := p.Authorize(r, ex.Principal); err != nil {
			ex.Err = guard.AsError(err)
			ex.Steps = append(ex.Steps, step{Phase: "authorize", Rule: "authorize", Outcome: "failed", Detail: ex.Err.Description})
			return ex
		}
	}
	ex.Steps = append(ex.Steps, step{Phase: "authorize", Rule: "rules", Outcome: "held"})
	return ex
}
