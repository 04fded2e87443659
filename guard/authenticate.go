package guard

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// An Authenticator recognises one kind of credential on a request. It
// returns ErrNoCredentials when the request does not carry that kind (so
// that the next one is tried), a Principal when the credential is valid,
// and otherwise an error, preferably an *Error saying what was wrong.
type Authenticator interface {
	Authenticate(r *http.Request) (*Principal, error)
}

// AuthenticatorFunc adapts a function to the Authenticator interface.
type AuthenticatorFunc func(r *http.Request) (*Principal, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*Principal, error) { return f(r) }

// Chain tries its authenticators in order: the first answer other than
// ErrNoCredentials wins. When none finds its credential, the refusal is
// 401 with no error code (RFC 6750 §3.1) and a description listing what
// is accepted.
type Chain []Authenticator

// Authenticate runs the chain.
func (c Chain) Authenticate(r *http.Request) (*Principal, error) {
	return c.authenticateWithin(r.Context(), r)
}

func (c Chain) authenticateWithin(ctx context.Context, r *http.Request) (*Principal, error) {
	p, e := c.authenticate(ctx, r, nil)
	if e != nil {
		return nil, e
	}
	return p, nil
}

// authenticate runs the chain, recording each authenticator's finding
// when tr is not nil. Errors come back as *Error, mapped by AsError.
func (c Chain) authenticate(ctx context.Context, r *http.Request, tr *trace) (*Principal, *Error) {
	for i, a := range c {
		p, err := authenticateWithin(ctx, a, r)
		if errors.Is(err, ErrNoCredentials) {
			tr.absent(a)
			continue
		}
		// The later authenticators are not asked; those that remove their
		// credential from the request (API keys) still do, so that a key
		// sent along with a token reaches no backend and no log either.
		for _, later := range c[i+1:] {
			if s, ok := later.(credentialStripper); ok {
				s.stripCredential(r)
			}
		}
		if err != nil {
			e := AsError(err)
			tr.refused(a, e)
			return nil, e
		}
		if p == nil {
			e := invalidToken("the credentials were not accepted")
			tr.refused(a, e)
			return nil, e
		}
		tr.admitted(a, p)
		return p, nil
	}
	return nil, c.noCredentials()
}

// A contextAuthenticator is an Authenticator of this package: it can
// authenticate under a context other than the request's
// (Policy.DecideWithin).
type contextAuthenticator interface {
	authenticateWithin(ctx context.Context, r *http.Request) (*Principal, error)
}

// authenticateWithin runs a under ctx when it is one of this package's,
// else as it is.
func authenticateWithin(ctx context.Context, a Authenticator, r *http.Request) (*Principal, error) {
	if ca, ok := a.(contextAuthenticator); ok {
		return ca.authenticateWithin(ctx, r)
	}
	return a.Authenticate(r)
}

// A credentialStripper removes its kind of credential from a request.
type credentialStripper interface{ stripCredential(r *http.Request) }

// noCredentials is the refusal when no authenticator found its
// credential: 401 with no error code (RFC 6750 §3.1), listing what is
// accepted.
func (c Chain) noCredentials() *Error {
	var accepted []string
	scheme := ""
	for _, a := range c {
		if d, ok := a.(describer); ok {
			what, sch := d.describe()
			accepted = append(accepted, what)
			if scheme == "" {
				scheme = sch
			}
		}
	}
	desc := "no credentials"
	if len(accepted) > 0 {
		desc += ": send " + strings.Join(accepted, ", or ")
	}
	if len(c) == 1 {
		if o, ok := c[0].(interface{ absentDescription() string }); ok {
			desc = o.absentDescription()
		}
	}
	return &Error{Status: http.StatusUnauthorized, Description: desc, Scheme: scheme, cause: ErrNoCredentials}
}

// A describer says what credential an authenticator reads ("Authorization:
// Basic <user:password>") and the challenge scheme it answers with.
type describer interface{ describe() (what, scheme string) }

// authorization returns the credentials of the request's one Authorization
// header whose scheme is scheme (case-insensitive, RFC 9110 §11.1).
// ErrNoCredentials: no header, or another scheme. Two or more headers are
// refused (RFC 6750 §3.1: more than one method of sending a token).
func authorization(r *http.Request, scheme string) (string, error) {
	vs := r.Header.Values("Authorization")
	switch {
	case len(vs) == 0:
		return "", ErrNoCredentials
	case len(vs) > 1:
		return "", invalidRequest(fmt.Sprintf("the request carries %d Authorization headers; send exactly one", len(vs)))
	}
	v := vs[0]
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) || len(v) > len(scheme) && v[len(scheme)] != ' ' {
		return "", ErrNoCredentials
	}
	cred := strings.TrimLeft(v[len(scheme):], " ")
	if cred == "" {
		return "", invalidRequest(fmt.Sprintf("the Authorization header has the %s scheme but no credentials; send \"%s <credentials>\"", scheme, scheme))
	}
	// token68 (RFC 9110 §11.2): what a bearer token or Basic credentials are.
	for i := 0; i < len(cred); i++ {
		if !token68[cred[i]] {
			want := "one Authorization: " + scheme + " header with a single token"
			switch scheme {
			case "Basic":
				want = "Authorization: Basic followed by the base64 of user:password (curl -u user:password does it)"
			case "Bearer":
				want = "Authorization: Bearer followed by the access token, once"
			}
			return "", invalidRequest(fmt.Sprintf("the %s credentials contain a character (at offset %d) that is not allowed there (RFC 9110 token68); send %s", scheme, i, want))
		}
	}
	return cred, nil
}

// token68 marks the bytes of RFC 9110 §11.2's token68; a table, because
// this loop runs over every byte of every token.
var token68 = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/=", byte(c)) >= 0
	}
	return t
}()

// BearerToken returns the token of the request's Authorization: Bearer
// header (RFC 6750 §2.1). ErrNoCredentials when there is no such header;
// an *Error (400 invalid_request) when there are several or it is malformed.
func BearerToken(r *http.Request) (string, error) { return authorization(r, "Bearer") }

// Bearer returns an Authenticator that verifies the request's bearer
// token with v. A token bound to a client certificate (a cnf claim with
// x5t#S256, RFC 8705 §3) is accepted only over a TLS connection whose
// client certificate is that certificate, as RFC 8705 §3 asks of a
// resource server that supports binding: a stolen bound token is useless
// without the certificate's private key. Tokens that are not bound are
// accepted as before; CertificateBoundBearer refuses them.
func Bearer(v *Verifier) Authenticator { return bearer{v: v} }

// CertificateBoundBearer is Bearer for an API that accepts only
// certificate-bound tokens (RFC 8705 §3): the token must carry
// cnf["x5t#S256"] and it must equal the SHA-256 thumbprint of the TLS
// client certificate of the connection. The server must request client
// certificates (tls.RequestClientCert, or stricter); it need not verify
// them: the handshake proves the client holds the key, and the token's
// issuer vouched for the certificate when it bound the token.
func CertificateBoundBearer(v *Verifier) Authenticator { return bearer{v: v, bound: true} }

type bearer struct {
	v     *Verifier
	bound bool // only certificate-bound tokens
}

func (b bearer) Authenticate(r *http.Request) (*Principal, error) {
	return b.authenticateWithin(r.Context(), r)
}

func (b bearer) authenticateWithin(ctx context.Context, r *http.Request) (*Principal, error) {
	raw, err := BearerToken(r)
	if err != nil {
		return nil, err
	}
	p, err := b.v.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if err := checkBinding(r, p, b.bound); err != nil {
		return nil, err
	}
	return p, nil
}

// checkBinding enforces a bearer token's certificate binding: a bound
// token needs the connection's client certificate to be the one it names
// (compared in constant time); with required, an unbound token is refused.
func checkBinding(r *http.Request, p *Principal, required bool) error {
	if p.BoundCertificate == "" {
		if required {
			return invalidToken("this API accepts only certificate-bound access tokens (RFC 8705), and this token is not bound to a certificate (it has no cnf claim): " +
				"request it with a certificate credential from a token service that binds tokens for this API, and send it over TLS with that client certificate")
		}
		return nil
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return invalidToken("the token is bound to a client certificate (cnf x5t#S256 " + clip(p.BoundCertificate, 64) +
			") but the connection presented no client certificate; call the API over HTTPS presenting the certificate the token was issued to " +
			"(curl --cert, or the TLS client certificate of your HTTP client)")
	}
	sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
	var enc [43]byte // base64url of 32 bytes, unpadded
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	if subtle.ConstantTimeCompare(enc[:], []byte(p.BoundCertificate)) != 1 {
		return invalidToken("the token is bound to the client certificate with x5t#S256 " + clip(p.BoundCertificate, 64) +
			", but the connection presented another certificate (x5t#S256 " + string(enc[:]) + "); present the certificate the token was issued to, or get a token with this one")
	}
	return nil
}

func (b bearer) describe() (string, string) {
	if b.bound {
		return "Authorization: Bearer <certificate-bound access token> over TLS with the client certificate the token is bound to", "Bearer"
	}
	return "Authorization: Bearer <access token>", "Bearer"
}
func (bearer) methodName() string { return string(MethodBearer) }

// A PasswordChecker checks a user name and password (Basic
// authentication). It should take the same time for unknown users as for
// wrong passwords, and return an *Error or any error for a refusal.
type PasswordChecker interface {
	CheckPassword(ctx context.Context, user, password string) (*Principal, error)
}

// MaxBasicCredentialBytes bounds the base64 credentials of a Basic
// Authorization header; longer ones are refused before decoding.
const MaxBasicCredentialBytes = 4 << 10

// Basic returns an Authenticator for HTTP Basic authentication
// (RFC 7617); the checker decides.
func Basic(check PasswordChecker) Authenticator { return basic{check} }

// stripCredential removes a Basic Authorization header from a request that
// another authenticator admitted, so that the password goes no further.
func (basic) stripCredential(r *http.Request) {
	for _, v := range r.Header.Values("Authorization") {
		if len(v) >= 6 && strings.EqualFold(v[:6], "Basic ") {
			r.Header.Del("Authorization")
			return
		}
	}
}

type basic struct{ check PasswordChecker }

func (b basic) Authenticate(r *http.Request) (*Principal, error) {
	return b.authenticateWithin(r.Context(), r)
}

func (b basic) authenticateWithin(ctx context.Context, r *http.Request) (*Principal, error) {
	cred, err := authorization(r, "Basic")
	if err != nil {
		return nil, withScheme(err, "Basic")
	}
	if len(cred) > MaxBasicCredentialBytes {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Scheme: "Basic",
			Description: fmt.Sprintf("the Basic credentials are %d bytes; at most %d are accepted", len(cred), MaxBasicCredentialBytes)}
	}
	// Decoded into a stack buffer when it fits (most credentials do): one
	// allocation less on every request.
	var buf [256]byte
	var dec []byte
	if n := base64.StdEncoding.DecodedLen(len(cred)); n <= len(buf) {
		dec = buf[:n]
	} else {
		dec = make([]byte, n)
	}
	n, err := base64.StdEncoding.Strict().Decode(dec, []byte(cred))
	dec = dec[:n]
	if err != nil || !utf8.Valid(dec) {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Scheme: "Basic",
			Description: "the Basic credentials are not base64 of UTF-8 \"user:password\" (RFC 7617)"}
	}
	user, pass, ok := strings.Cut(string(dec), ":")
	if !ok {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Scheme: "Basic",
			Description: "the Basic credentials have no ':' between user and password (RFC 7617)"}
	}
	p, err := b.check.CheckPassword(ctx, user, pass)
	if err != nil {
		return nil, withScheme(err, "Basic")
	}
	return p, nil
}

func (basic) describe() (string, string) { return "Authorization: Basic <user:password>", "Basic" }
func (basic) methodName() string         { return string(MethodBasic) }

// An APIKeyChecker checks an API key; it should compare in constant time.
type APIKeyChecker interface {
	CheckAPIKey(ctx context.Context, key string) (*Principal, error)
}

// APIKey returns an Authenticator that reads an API key from the named
// request header (for example "X-API-Key").
func APIKey(header string, check APIKeyChecker) Authenticator {
	return apiKey{http.CanonicalHeaderKey(header), check}
}

type apiKey struct {
	header string
	check  APIKeyChecker
}

func (a apiKey) Authenticate(r *http.Request) (*Principal, error) {
	return a.authenticateWithin(r.Context(), r)
}

func (a apiKey) authenticateWithin(ctx context.Context, r *http.Request) (*Principal, error) {
	vs := r.Header.Values(a.header)
	switch {
	case len(vs) == 0:
		return nil, ErrNoCredentials
	case len(vs) > 1:
		return nil, invalidRequest(fmt.Sprintf("the request carries %d %s headers; send exactly one", len(vs), a.header))
	case vs[0] == "":
		return nil, invalidRequest(fmt.Sprintf("the %s header is empty; send the API key in it", a.header))
	}
	return a.check.CheckAPIKey(ctx, vs[0])
}

func (a apiKey) describe() (string, string) { return a.header + ": <API key>", "" }
func (apiKey) methodName() string           { return string(MethodAPIKey) }

// A CertificateChecker decides whether a TLS client certificate is
// accepted. chains are the chains the TLS stack verified (empty when the
// listener does not verify client certificates, e.g. with
// tls.RequireAnyClientCert).
type CertificateChecker interface {
	CheckCertificate(ctx context.Context, cert *x509.Certificate, chains [][]*x509.Certificate) (*Principal, error)
}

// ClientCertificate returns an Authenticator for the TLS client
// certificate of the request.
func ClientCertificate(check CertificateChecker) Authenticator { return clientCert{check} }

type clientCert struct{ check CertificateChecker }

func (c clientCert) Authenticate(r *http.Request) (*Principal, error) {
	return c.authenticateWithin(r.Context(), r)
}

func (c clientCert) authenticateWithin(ctx context.Context, r *http.Request) (*Principal, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, ErrNoCredentials
	}
	return c.check.CheckCertificate(ctx, r.TLS.PeerCertificates[0], r.TLS.VerifiedChains)
}

func (clientCert) describe() (string, string) { return "a TLS client certificate", "" }
func (clientCert) methodName() string         { return string(MethodClientCertificate) }

// PinnedCertificates accepts exactly the client certificates whose SHA-256
// thumbprints it holds, each as its own Principal. Pin the next
// certificate next to the current one for a rollover without downtime.
type PinnedCertificates struct {
	pins map[[sha256.Size]byte]Principal
	now  func() time.Time
}

// NewPinnedCertificates pins certificates by SHA-256 thumbprint (hex, any
// case, colons allowed, or base64url). Each Principal is returned for its
// certificate with Method, Certificate and CredentialID filled in. now may
// be nil (time.Now).
func NewPinnedCertificates(pins map[string]Principal, now func() time.Time) (*PinnedCertificates, error) {
	if now == nil {
		now = time.Now
	}
	pc := &PinnedCertificates{pins: make(map[[sha256.Size]byte]Principal, len(pins)), now: now}
	for tp, p := range pins {
		sum, err := parseThumbprint(tp)
		if err != nil {
			return nil, fmt.Errorf("pinned certificate %q: %w", clip(tp, 100), err)
		}
		pc.pins[sum] = p
	}
	return pc, nil
}

// CheckCertificate implements CertificateChecker.
func (pc *PinnedCertificates) CheckCertificate(_ context.Context, cert *x509.Certificate, _ [][]*x509.Certificate) (*Principal, error) {
	sum := sha256.Sum256(cert.Raw)
	tp := hex.EncodeToString(sum[:])
	p, ok := pc.pins[sum]
	if !ok {
		return nil, invalidToken(fmt.Sprintf("the client certificate with SHA-256 thumbprint %s is not pinned for this API; ask its operator to pin it", tp))
	}
	now := pc.now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, invalidToken(fmt.Sprintf("the client certificate with SHA-256 thumbprint %s is valid from %s to %s, not now (%s)",
			tp, fmtTime(cert.NotBefore), fmtTime(cert.NotAfter), fmtTime(now)))
	}
	p.Method = MethodClientCertificate
	p.Certificate = cert
	p.CredentialID = tp
	if p.ExpiresAt.IsZero() {
		p.ExpiresAt = cert.NotAfter
	}
	return &p, nil
}

// parseThumbprint decodes a SHA-256 thumbprint in hex (any case, colons
// allowed) or unpadded base64url.
func parseThumbprint(s string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	h := strings.ReplaceAll(s, ":", "")
	if len(h) == 2*sha256.Size {
		if b, err := hex.DecodeString(h); err == nil {
			copy(sum[:], b)
			return sum, nil
		}
	}
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil && len(b) == sha256.Size {
		copy(sum[:], b)
		return sum, nil
	}
	return sum, errors.New("not a SHA-256 thumbprint: use 64 hex digits or 43 base64url characters")
}

// withScheme returns err with its challenge scheme set to scheme; an
// *Error is copied, never changed (a checker may return a shared one).
func withScheme(err error, scheme string) error {
	if errors.Is(err, ErrNoCredentials) {
		return err
	}
	e := *AsError(err)
	e.Scheme = scheme
	return &e
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
