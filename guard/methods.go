package guard

import (
	"bytes"
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
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// specPasswords is the PasswordChecker of a compiled basic method.
type specPasswords struct {
	users map[string]*secretDigest
	fake  *secretDigest // stands in for an unknown user
}

// CheckPassword compares SHA-256 digests in constant time. An unknown
// user is compared with a fake digest, so the answer takes as long and
// reads the same as for a wrong password.
func (sp *specPasswords) CheckPassword(_ context.Context, user, password string) (*Principal, error) {
	presented := hashToken(password)
	s, known := sp.users[user]
	if !known {
		s = sp.fake // the same steps as for a known user, against a random value
	}
	want := &sp.fake.last.Load().sum
	d := s.current(func(version string) *Principal {
		// A copy: user shares its bytes with the decoded password.
		user := strings.Clone(user)
		return &Principal{Method: MethodBasic, Subject: user, CredentialID: "basic:" + user + "@" + version}
	})
	if d != nil {
		want = &d.sum
	}
	ok := subtle.ConstantTimeCompare(presented[:], want[:]) == 1
	switch {
	case known && d == nil:
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: CodeTemporarilyUnavailable, Scheme: "Basic",
			Description: fmt.Sprintf("the password of user %q cannot be read now; retry later", clip(user, 100))}
	case !known || !ok:
		return nil, errWrongPassword
	}
	return d.p, nil
}

var errWrongPassword = &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Scheme: "Basic",
	Description: "the user name or password is not correct"}

// specAPIKey is the Authenticator of a compiled apiKey method: the key is
// read from a header, a query parameter or either, and removed from the
// request whatever the outcome, so that it reaches neither the backend
// nor an access log.
type specAPIKey struct {
	header string // canonical; "" when the key is not read from a header
	query  string // "" when the key is not read from the query
	keys   []namedKey
}

type namedKey struct {
	name   string
	secret *secretDigest
}

func (a *specAPIKey) methodName() string { return string(MethodAPIKey) }

func (a *specAPIKey) describe() (string, string) {
	switch {
	case a.header == "":
		return "the query parameter " + a.query + "=<API key>", ""
	case a.query == "":
		return a.header + ": <API key>", ""
	}
	return a.header + ": <API key> (or the query parameter " + a.query + "=<API key>)", ""
}

func (a *specAPIKey) Authenticate(r *http.Request) (*Principal, error) {
	var hv []string
	if a.header != "" {
		hv = r.Header.Values(a.header)
	}
	var qv string
	var qn int
	var qbad bool
	if a.query != "" && r.URL != nil && r.URL.RawQuery != "" {
		qv, qn, qbad = scanQuery(r.URL.RawQuery, a.query)
	}
	if len(hv) == 0 && qn == 0 {
		return nil, ErrNoCredentials
	}
	key := qv
	if len(hv) > 0 {
		key = hv[0]
	}
	// where is only needed for a refusal: no allocation on success.
	where := func() string {
		if len(hv) > 0 {
			return "the " + a.header + " header"
		}
		return "the query parameter " + a.query
	}
	a.strip(r, qn > 0)

	switch {
	case len(hv) > 1:
		return nil, invalidRequest(fmt.Sprintf("the request carries %d %s headers; send the API key in exactly one", len(hv), a.header))
	case qn > 1:
		return nil, invalidRequest(fmt.Sprintf("the query carries the parameter %s %d times; send the API key once", a.query, qn))
	case qbad:
		return nil, invalidRequest(fmt.Sprintf("the query parameter %s is not valid percent-encoding", a.query))
	case len(hv) == 1 && qn == 1 && hv[0] != qv:
		return nil, invalidRequest(fmt.Sprintf("the request carries an API key in both the %s header and the query parameter %s, with different values; send it in one place", a.header, a.query))
	case key == "":
		return nil, invalidRequest(fmt.Sprintf("%s is empty; send the API key in it", where()))
	case strings.TrimSpace(key) != key:
		return nil, invalidRequest(fmt.Sprintf("the API key in %s has leading or trailing whitespace; send the key exactly as issued", where()))
	}

	presented := hashToken(key)
	var match *digest
	unavailable := false
	// Every key is compared, whichever matches: the time taken does not
	// tell which key (or whether one) matched.
	for i := range a.keys {
		k := &a.keys[i]
		d := k.secret.current(func(version string) *Principal {
			return &Principal{Method: MethodAPIKey, Subject: k.name, CredentialID: "apiKey:" + k.name + "@" + version}
		})
		if d == nil {
			unavailable = true
			continue
		}
		if subtle.ConstantTimeCompare(presented[:], d.sum[:]) == 1 && match == nil {
			match = d
		}
	}
	switch {
	case match != nil:
		return match.p, nil
	case unavailable:
		// The key may be one that cannot be read now: not the caller's fault.
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: CodeTemporarilyUnavailable,
			Description: "some of this API's keys cannot be read now; retry later"}
	}
	return nil, invalidToken(fmt.Sprintf("the API key in %s is not valid for this API; ask its operator for a key", where()))
}

// stripCredential removes the key from a request this authenticator was
// not asked about (another method decided first).
func (a *specAPIKey) stripCredential(r *http.Request) {
	inQuery := false
	if a.query != "" && r.URL != nil && r.URL.RawQuery != "" {
		_, n, _ := scanQuery(r.URL.RawQuery, a.query)
		inQuery = n > 0
	}
	a.strip(r, inQuery)
}

// strip removes the key's header and, when inQuery, every occurrence of
// its query parameter, leaving the rest of the query as it was, byte for
// byte.
func (a *specAPIKey) strip(r *http.Request, inQuery bool) {
	if a.header != "" {
		r.Header.Del(a.header)
	}
	if !inQuery {
		return
	}
	q := stripQuery(r.URL.RawQuery, a.query)
	r.URL.RawQuery = q
	r.URL.ForceQuery = false
	if r.RequestURI != "" {
		uri, _, _ := strings.Cut(r.RequestURI, "?")
		if q != "" {
			uri += "?" + q
		}
		r.RequestURI = uri
	}
	if r.Form != nil {
		r.Form.Del(a.query)
	}
}

// scanQuery finds the parameter name in a raw query: the value of its
// first occurrence (unescaped), how many times it occurs, and whether that
// value is not valid percent-encoding.
func scanQuery(raw, name string) (val string, n int, bad bool) {
	for rest := raw; rest != ""; {
		var seg string
		seg, rest, _ = strings.Cut(rest, "&")
		k, v, _ := strings.Cut(seg, "=")
		if !queryKeyIs(k, name) {
			continue
		}
		n++
		if n == 1 {
			if !strings.ContainsAny(v, "%+") {
				val = v
			} else if u, err := url.QueryUnescape(v); err == nil {
				val = u
			} else {
				bad = true
			}
		}
	}
	return val, n, bad
}

// stripQuery returns raw without the parameters named name; the other
// segments, empty ones included, are kept as they were.
func stripQuery(raw, name string) string {
	var b strings.Builder
	b.Grow(len(raw))
	first := true
	for rest := raw; ; {
		seg, after, more := strings.Cut(rest, "&")
		k, _, _ := strings.Cut(seg, "=")
		if !queryKeyIs(k, name) {
			if !first {
				b.WriteByte('&')
			}
			b.WriteString(seg)
			first = false
		}
		if !more {
			break
		}
		rest = after
	}
	return b.String()
}

// queryKeyIs reports whether the raw query key k names name, as
// url.ParseQuery would decode it ("co%64e" is "code").
func queryKeyIs(k, name string) bool {
	if k == name {
		return true
	}
	if !strings.ContainsAny(k, "%+") {
		return false
	}
	u, err := url.QueryUnescape(k)
	return err == nil && u == name
}

// canonicalHeader returns the canonical form of a header name, or "" when
// it is not a token (RFC 9110 §5.1).
func canonicalHeader(h string) string {
	if !httpguts.ValidHeaderFieldName(h) {
		return ""
	}
	return http.CanonicalHeaderKey(h)
}

// specCertificates is the Authenticator of a compiled clientCertificate
// method. The TLS layer only requests a certificate (it proves the client
// holds its key); whether it is trusted is decided here, per API.
type specCertificates struct {
	roots    *x509.CertPool // nil: pins only
	pins     []certificatePin
	sha1Pins bool
	namePins bool
	now      func() time.Time
	accepted certCache
	// revocation is nil when the method checks none.
	revocation *revocation
}

// certificatePin is a thumbprint (20 bytes SHA-1 or 32 SHA-256), or a
// subject with its issuer.
type certificatePin struct {
	thumbprint      []byte
	subject, issuer string
}

func (c *specCertificates) methodName() string { return string(MethodClientCertificate) }

func (c *specCertificates) describe() (string, string) { return "a TLS client certificate", "" }

func (c *specCertificates) absentDescription() string {
	return "this API requires a client certificate; the connection presented none"
}

func (c *specCertificates) Authenticate(r *http.Request) (*Principal, error) {
	return c.authenticateWithin(r.Context(), r)
}

func (c *specCertificates) authenticateWithin(ctx context.Context, r *http.Request) (*Principal, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, ErrNoCredentials
	}
	cert := r.TLS.PeerCertificates[0]
	sum := sha256.Sum256(cert.Raw)
	now := c.now()
	epoch := c.revocation.currentEpoch()
	if p := c.accepted.get(sum, now, epoch); p != nil {
		return p, nil
	}
	tp := hex.EncodeToString(sum[:])
	who := func() string {
		return fmt.Sprintf("the client certificate %q (SHA-256 thumbprint %s)", clip(cert.Subject.String(), 200), tp)
	}
	switch {
	case now.Before(cert.NotBefore):
		return nil, invalidToken(fmt.Sprintf("%s is not valid before %s (server time %s)", who(), fmtTime(cert.NotBefore), fmtTime(now)))
	case now.After(cert.NotAfter):
		return nil, invalidToken(fmt.Sprintf("%s expired at %s (server time %s); use a current certificate", who(), fmtTime(cert.NotAfter), fmtTime(now)))
	case !clientAuthAllowed(cert):
		return nil, invalidToken(fmt.Sprintf("%s is not for client authentication: its extended key usages do not include clientAuth", who()))
	}
	until := cert.NotAfter
	var issuer *x509.Certificate
	if c.roots != nil {
		inter := x509.NewCertPool()
		for _, ic := range r.TLS.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		chains, err := cert.Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil {
			return nil, invalidToken(fmt.Sprintf("%s, issued by %q, does not chain to a CA this API trusts: %s",
				who(), clip(cert.Issuer.String(), 200), clip(err.Error(), 200)))
		}
		// The certificate is accepted as long as one of its chains is valid.
		until = time.Time{}
		for _, ch := range chains {
			if issuer == nil && len(ch) > 1 {
				issuer = ch[1]
			}
			end := ch[0].NotAfter
			for _, ca := range ch[1:] {
				if ca.NotAfter.Before(end) {
					end = ca.NotAfter
				}
			}
			if end.After(until) {
				until = end
			}
		}
	}
	if len(c.pins) > 0 && !c.pinned(cert, sum) {
		return nil, invalidToken(fmt.Sprintf("%s matches none of this API's pinned certificates; ask its operator to pin it", who()))
	}
	var notes []string
	if c.revocation != nil {
		if issuer == nil {
			// The certificate is itself one of the trusted CAs: there is no
			// issuer to ask about it.
			notes = []string{"not checked: the certificate is itself a trusted CA"}
		} else {
			rr := c.revocation.check(ctx, cert, issuer, now, who())
			if rr.err != nil {
				return nil, rr.err
			}
			if !rr.until.IsZero() && rr.until.Before(until) {
				until = rr.until
			}
			notes = rr.notes
		}
	}
	p := &Principal{Method: MethodClientCertificate, Subject: cert.Subject.String(), Certificate: cert,
		CredentialID: tp, ExpiresAt: cert.NotAfter}
	c.accepted.put(sum, certEntry{p: p, until: until, epoch: epoch, notes: notes})
	return p, nil
}

// revocationStep describes, for Explain, how the revocation of the
// certificate p was checked; "" when the method checks none.
func (c *specCertificates) revocationStep(p *Principal) string {
	if c.revocation == nil || p.Certificate == nil {
		return ""
	}
	e, ok := c.accepted.entry(sha256.Sum256(p.Certificate.Raw))
	if !ok || len(e.notes) == 0 {
		return "checked; no details kept"
	}
	return strings.Join(e.notes, "; ")
}

// certCache remembers accepted certificates by SHA-256 until the end of
// their validity (and of their chain's), so that a client calling again
// costs a hash and a lookup instead of a chain verification. Whether a
// certificate chains to a trusted CA does not depend on which
// intermediates a later connection presents: the signatures were checked.
// With revocation checking, an entry is kept no longer than the CRLs and
// OCSP answers it was checked against are current, and only under the
// CRLs it was checked against: a new list moves the epoch on, which
// retires every entry at once.
// Nothing it holds is secret. Bounded: cleared when full.
type certCache struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]certEntry
}

type certEntry struct {
	p     *Principal
	until time.Time
	epoch uint64
	notes []string // how revocation was checked, for Explain
}

const certCacheSize = 1024

func (cc *certCache) get(sum [sha256.Size]byte, now time.Time, epoch uint64) *Principal {
	cc.mu.RLock()
	e, ok := cc.m[sum]
	cc.mu.RUnlock()
	if !ok || e.epoch != epoch || now.Before(e.p.Certificate.NotBefore) || now.After(e.until) {
		return nil
	}
	return e.p
}

func (cc *certCache) entry(sum [sha256.Size]byte) (certEntry, bool) {
	cc.mu.RLock()
	defer cc.mu.RUnlock()
	e, ok := cc.m[sum]
	return e, ok
}

func (cc *certCache) put(sum [sha256.Size]byte, e certEntry) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil || len(cc.m) >= certCacheSize {
		cc.m = make(map[[sha256.Size]byte]certEntry)
	}
	cc.m[sum] = e
}

func (c *specCertificates) pinned(cert *x509.Certificate, sum [sha256.Size]byte) bool {
	var sum1 [sha1.Size]byte
	if c.sha1Pins {
		sum1 = sha1.Sum(cert.Raw)
	}
	var subject, issuer string
	if c.namePins {
		subject, issuer = cert.Subject.String(), cert.Issuer.String()
	}
	for _, p := range c.pins {
		switch {
		case len(p.thumbprint) == sha256.Size && bytes.Equal(p.thumbprint, sum[:]),
			len(p.thumbprint) == sha1.Size && bytes.Equal(p.thumbprint, sum1[:]),
			p.thumbprint == nil && p.subject == subject && p.issuer == issuer:
			return true
		}
	}
	return false
}

// clientAuthAllowed: a certificate without extended key usages may be
// used for anything; one with them must list clientAuth (or any).
func clientAuthAllowed(cert *x509.Certificate) bool {
	if len(cert.ExtKeyUsage) == 0 && len(cert.UnknownExtKeyUsage) == 0 {
		return true
	}
	for _, u := range cert.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// parseHexThumbprint decodes a SHA-1 (40 hex digits) or SHA-256 (64)
// thumbprint; colons and case are ignored.
func parseHexThumbprint(s string) ([]byte, error) {
	h := strings.ReplaceAll(s, ":", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha1.Size && len(b) != sha256.Size {
		return nil, errors.New("not a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) thumbprint; colons are allowed")
	}
	return b, nil
}
