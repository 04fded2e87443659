package guard

import (
	"cmp"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/jws"
)

// A KeySource returns the verification key kid that issuer publishes now.
// Any error means "unknown key" (401), except errors wrapping
// ErrKeySourceUnavailable, which mean "cannot tell now" (503). A
// KeySource is authoritative for the issuers it knows: the Verifier needs
// no issuer list when its source refuses every other issuer.
//
// OIDCKeySource reads an issuer's discovery document and JWKS; the
// Portcullis token service is a KeySource in process.
type KeySource interface {
	Key(ctx context.Context, issuer, kid string) (crypto.PublicKey, error)
}

// IssuerKeys is a KeySource that routes each lookup to the source of the
// token's issuer, for an API that accepts tokens from several issuers
// (several Portcullis tenants, or Portcullis and Entra ID):
//
//	guard.IssuerKeys{contoso.Issuer(): contoso, fabrikam.Issuer(): fabrikam}
//
// An issuer it does not list is unknown (401).
type IssuerKeys map[string]KeySource

// Key implements KeySource.
func (m IssuerKeys) Key(ctx context.Context, issuer, kid string) (crypto.PublicKey, error) {
	s, ok := m[issuer]
	if !ok {
		return nil, fmt.Errorf("issuer %q is not one this API trusts", jws.Clip(issuer, 100))
	}
	return s.Key(ctx, issuer, kid)
}

// Verifier limits and defaults.
const (
	DefaultLeeway        = time.Minute
	MaxLeeway            = 5 * time.Minute
	DefaultMaxTokenBytes = 16 << 10
	DefaultCacheSize     = 10000
	maxKidBytes          = 256
)

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Keys supplies the issuers' verification keys (required).
	Keys KeySource
	// Issuers, when set, is an exact allow-list of iss values, checked
	// before the key source is asked.
	Issuers []string
	// Audiences lists this API's names (required): a token's aud must
	// contain one of them exactly.
	Audiences []string
	// Leeway tolerates clock skew on exp, nbf and iat (default 1 minute,
	// at most 5).
	Leeway time.Duration
	// MaxTokenBytes refuses longer tokens before any work (default 16 KiB).
	MaxTokenBytes int
	// CacheSize bounds the verified-token cache in entries (default
	// 10,000; negative disables the cache).
	CacheSize int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Algorithms, when set, further restricts the signature algorithms
	// (for example to RS256); "none" and HMAC are never accepted anyway.
	Algorithms []string
}

// Verifier verifies JWT bearer tokens signed with keys from a KeySource.
// It is safe for concurrent use.
type Verifier struct {
	keys      KeySource
	issuers   []string
	audiences []string
	leeway    time.Duration
	maxBytes  int
	now       func() time.Time
	algs      []string
	cache     *tokenCache
}

// NewVerifier returns a Verifier for cfg, or an error naming the field
// that is wrong.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Keys == nil {
		return nil, errors.New("guard: VerifierConfig.Keys is required: use NewOIDCKeySource with your issuer's URL")
	}
	if len(cfg.Audiences) == 0 || slices.Contains(cfg.Audiences, "") {
		return nil, errors.New("guard: VerifierConfig.Audiences must name this API (the aud its tokens carry, e.g. its application id or api:// URI)")
	}
	if slices.Contains(cfg.Issuers, "") {
		return nil, errors.New("guard: VerifierConfig.Issuers has an empty entry")
	}
	if cfg.MaxTokenBytes < 0 {
		return nil, fmt.Errorf("guard: VerifierConfig.MaxTokenBytes is negative (%d)", cfg.MaxTokenBytes)
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("guard: VerifierConfig.Leeway is negative (%s)", cfg.Leeway)
	}
	for _, a := range cfg.Algorithms {
		if !slices.Contains(jws.Algorithms, a) {
			return nil, fmt.Errorf("guard: VerifierConfig.Algorithms: %q is not supported; choose from %s", a, strings.Join(jws.Algorithms, ", "))
		}
	}
	v := &Verifier{
		keys:      cfg.Keys,
		issuers:   slices.Clone(cfg.Issuers),
		audiences: slices.Clone(cfg.Audiences),
		leeway:    min(cmp.Or(cfg.Leeway, DefaultLeeway), MaxLeeway),
		maxBytes:  cmp.Or(cfg.MaxTokenBytes, DefaultMaxTokenBytes),
		now:       cfg.Now,
		algs:      slices.Clone(cfg.Algorithms),
	}
	if v.now == nil {
		v.now = time.Now
	}
	if cfg.CacheSize >= 0 {
		v.cache = newTokenCache(cmp.Or(cfg.CacheSize, DefaultCacheSize))
	}
	return v, nil
}

// Verify verifies a compact JWT and returns its Principal, or an *Error
// (401 invalid_token, or 503 temporarily_unavailable when the key source
// cannot answer) whose description says what is wrong. The returned
// Principal may be shared with other callers: do not modify it.
//
// Checks, in order: size; strict compact JWS (jws.Parse); no jwk, jku or
// x5u header; alg allowed; kid present; iss (allow-list when set); key
// from the KeySource for (iss, kid); signature; aud; exp (required); nbf;
// iat not in the future; all times with the leeway.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	if len(raw) > v.maxBytes {
		return nil, invalidToken(fmt.Sprintf("the token is %d bytes; this API accepts at most %d", len(raw), v.maxBytes))
	}
	now := v.now()
	var sum [32]byte
	if v.cache != nil {
		sum = hashToken(raw)
		if p := v.cache.get(ctx, sum, now, v.keys); p != nil {
			return p, nil
		}
	}
	p, key, kid, err := v.verify(ctx, raw, now)
	if err != nil {
		return nil, err
	}
	// Cache only until exp: past it, the token is verified again (and
	// accepted within the leeway, but no longer remembered).
	if v.cache != nil && now.Before(p.ExpiresAt) {
		v.cache.put(sum, &cacheEntry{p: p, kid: kid, key: key, exp: p.ExpiresAt}, now)
	}
	return p, nil
}

func (v *Verifier) verify(ctx context.Context, raw string, now time.Time) (*Principal, crypto.PublicKey, string, error) {
	tok, err := jws.Parse(raw, v.maxBytes)
	if err != nil {
		return nil, nil, "", invalidToken("the token is not a well-formed JWS: " + err.Error())
	}
	h := &tok.Header
	// The key comes only from the KeySource: a key or key URL that the
	// token carries itself proves nothing (anyone can sign with their own
	// key), and following a URL from an unverified token is a request
	// forgery. jwk, jku and x5u are refused outright. x5c is ignored
	// rather than refused: some signers attach their certificate chain for
	// information, and it is never used to verify.
	for _, name := range []string{"jwk", "jku", "x5u"} {
		if h.Has(name) {
			return nil, nil, "", invalidToken(fmt.Sprintf("the token's header carries %q; keys are taken only from the issuer's published key set, never from the token", name))
		}
	}
	if jws.NeverAccepted(h.Alg) {
		return nil, nil, "", invalidToken(fmt.Sprintf("alg %q is never accepted: tokens must be signed with the issuer's private key (RS256, ES256, ...)", jws.Clip(h.Alg, 20)))
	}
	if !slices.Contains(jws.Algorithms, h.Alg) || len(v.algs) > 0 && !slices.Contains(v.algs, h.Alg) {
		return nil, nil, "", invalidToken(fmt.Sprintf("alg %q is not accepted; this API accepts %s", jws.Clip(h.Alg, 20), strings.Join(v.acceptedAlgs(), ", ")))
	}
	if h.Kid == "" {
		return nil, nil, "", invalidToken("the token's header has no kid, so its signing key cannot be found; tokens must name their key")
	}
	if len(h.Kid) > maxKidBytes {
		return nil, nil, "", invalidToken(fmt.Sprintf("the token's kid is %d bytes; at most %d are accepted", len(h.Kid), maxKidBytes))
	}
	var c claims
	if err := c.decode(tok.Payload); err != nil {
		return nil, nil, "", invalidToken("the token's claims are not valid: " + err.Error())
	}
	if c.iss == "" {
		return nil, nil, "", invalidToken("the token has no iss claim")
	}
	if len(v.issuers) > 0 && !slices.Contains(v.issuers, c.iss) {
		return nil, nil, "", invalidToken(fmt.Sprintf("the token's issuer %q is not trusted by this API (trusted: %s)", jws.Clip(c.iss, 100), clipList(v.issuers)))
	}
	key, err := v.keys.Key(ctx, c.iss, h.Kid)
	if err != nil {
		if errors.Is(err, ErrKeySourceUnavailable) || errors.Is(err, ErrWouldWait) {
			return nil, nil, "", &Error{Status: http.StatusServiceUnavailable, Code: CodeTemporarilyUnavailable,
				Description: fmt.Sprintf("the signing keys of issuer %q cannot be loaded now; retry later", jws.Clip(c.iss, 100)), cause: err}
		}
		return nil, nil, "", invalidToken(fmt.Sprintf("issuer %q does not publish a signing key with kid %q now (%s); get a new token",
			jws.Clip(c.iss, 100), jws.Clip(h.Kid, 64), jws.Clip(err.Error(), 200)))
	}
	if err := jws.VerifySignature(h.Alg, key, tok.SigningInput, tok.Signature); err != nil {
		return nil, nil, "", invalidToken(fmt.Sprintf("the token's signature is not valid for key %q of issuer %q: %v", jws.Clip(h.Kid, 64), jws.Clip(c.iss, 100), err))
	}
	if !slices.ContainsFunc(c.aud, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		got := "no aud claim"
		if len(c.aud) > 0 {
			got = "audience " + clipList(c.aud)
		}
		return nil, nil, "", invalidToken(fmt.Sprintf("the token has %s, which is not this API's (want %s); request a token for this API", got, clipList(v.audiences)))
	}
	if c.exp == nil {
		return nil, nil, "", invalidToken("the token has no exp claim; tokens must expire")
	}
	if now.After(c.exp.Add(v.leeway)) {
		return nil, nil, "", invalidToken(fmt.Sprintf("the token expired at %s (server time %s, leeway %s); get a new token", fmtTime(c.exp.Time), fmtTime(now), v.leeway))
	}
	if c.nbf != nil && now.Add(v.leeway).Before(c.nbf.Time) {
		return nil, nil, "", invalidToken(fmt.Sprintf("the token is not valid before %s (server time %s, leeway %s)", fmtTime(c.nbf.Time), fmtTime(now), v.leeway))
	}
	if c.iat != nil && now.Add(v.leeway).Before(c.iat.Time) {
		return nil, nil, "", invalidToken(fmt.Sprintf("the token was issued in the future, at %s (server time %s, leeway %s); check the issuer's clock", fmtTime(c.iat.Time), fmtTime(now), v.leeway))
	}
	p := &Principal{
		Method:    MethodBearer,
		Subject:   c.sub,
		TenantID:  c.tid,
		AppID:     cmp.Or(c.azp, c.appid),
		ObjectID:  c.oid,
		Issuer:    c.iss,
		Audience:  c.aud,
		Roles:     c.roles,
		Scopes:    c.scp,
		TokenID:   cmp.Or(c.uti, c.jti),
		ExpiresAt: c.exp.Time,
		RawClaims: json.RawMessage(tok.Payload),
	}
	if c.cnf != nil {
		p.BoundCertificate = c.cnf.x5tS256
	}
	p.CredentialID = p.TokenID
	return p, key, h.Kid, nil
}

func (v *Verifier) acceptedAlgs() []string {
	if len(v.algs) > 0 {
		return v.algs
	}
	return jws.Algorithms
}

// claims are the registered and Entra claims a Principal is made of,
// decoded with exact names (encoding/json alone matches names ignoring
// case, so "ISS" would fill iss).
type claims struct {
	iss, sub, tid, azp, appid, oid, uti, jti string
	aud                                      jws.Audience
	cnf                                      *confirmation
	exp, nbf, iat                            *jws.NumericDate
	roles, scp                               stringList
}

func (c *claims) decode(payload []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil || m == nil {
		return errors.New("the payload is not a JSON object")
	}
	for name, raw := range m {
		var dst any
		switch name {
		case "iss":
			dst = &c.iss
		case "sub":
			dst = &c.sub
		case "tid":
			dst = &c.tid
		case "azp":
			dst = &c.azp
		case "appid":
			dst = &c.appid
		case "oid":
			dst = &c.oid
		case "uti":
			dst = &c.uti
		case "jti":
			dst = &c.jti
		case "aud":
			dst = &c.aud
		case "exp":
			dst = &c.exp
		case "nbf":
			dst = &c.nbf
		case "iat":
			dst = &c.iat
		case "roles":
			dst = &c.roles
		case "scp":
			dst = &c.scp
		case "cnf":
			dst = &c.cnf
		default:
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			if name == "cnf" {
				return fmt.Errorf("claim \"cnf\" is not valid: %s", jws.Clip(err.Error(), 300))
			}
			return fmt.Errorf("claim %q has the wrong type (%s)", name, jws.Clip(err.Error(), 100))
		}
	}
	return nil
}

// confirmation is the cnf claim (RFC 7800 §3.1) as far as a resource
// server checks it: the x5t#S256 member of a certificate-bound token
// (RFC 8705 §3.1), decoded with its exact name. A cnf with other members
// only (a DPoP jkt, say) binds the token to something this server cannot
// check, so it is refused rather than accepted as a plain bearer token.
type confirmation struct{ x5tS256 string }

func (c *confirmation) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return errors.New("want a JSON object")
	}
	raw, ok := m["x5t#S256"]
	if !ok && len(m) == 0 {
		return errors.New("it has no x5t#S256 member; a certificate-bound token (RFC 8705) names its certificate there")
	}
	if !ok {
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		slices.Sort(names)
		return fmt.Errorf("it binds the token with %s, which this API cannot check; only x5t#S256 (a certificate-bound token, RFC 8705) is supported", clipList(names))
	}
	if err := json.Unmarshal(raw, &c.x5tS256); err != nil {
		return errors.New("x5t#S256 is not a string")
	}
	if sum, err := base64.RawURLEncoding.DecodeString(c.x5tS256); err != nil || len(sum) != sha256.Size {
		return errors.New("x5t#S256 is not the base64url (unpadded) SHA-256 thumbprint of a certificate")
	}
	return nil
}

// stringList is a claim that is an array of strings or one string of
// space-separated values (Entra's scp, some issuers' roles). It is not
// jws.Audience: aud as one string is one value (RFC 7519 §4.1.3), and
// splitting it would let "api://x api://orders" pass for api://orders.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*l = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = strings.Fields(one)
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want an array of strings or a space-separated string")
	}
	*l = many
	return nil
}

// clip quotes an untrusted value for an error description.
func clip(s string, n int) string { return jws.Clip(s, n) }

// clipList shows at most five values, each clipped.
func clipList(l []string) string {
	n := min(len(l), 5)
	q := make([]string, n, n+1)
	for i := range n {
		q[i] = jws.Clip(l[i], 100)
	}
	if len(l) > n {
		q = append(q, fmt.Sprintf("and %d more", len(l)-n))
	}
	return "[" + strings.Join(q, " ") + "]"
}
