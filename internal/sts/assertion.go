package sts

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/jws"
	"github.com/portcullis/portcullis/internal/pki"
)

// assertionAlgorithms is the allow-list for client assertions: RSA
// PKCS#1 v1.5 and PSS with SHA-256 for RSA certificates, ECDSA with the
// curve's own hash for EC certificates (RFC 7518 §3.4). Never "none" or
// HMAC (a certificate is not a shared key).
var assertionAlgorithms = []string{"RS256", "PS256", "ES256", "ES384", "ES512"}

// assertionClaims are the claims of a client assertion (RFC 7523 §3).
type assertionClaims struct {
	Iss string           `json:"iss"`
	Sub string           `json:"sub"`
	Aud jws.Audience     `json:"aud"`
	Exp *jws.NumericDate `json:"exp"`
	Nbf *jws.NumericDate `json:"nbf"`
	Iat *jws.NumericDate `json:"iat"`
	Jti string           `json:"jti"`
}

// maxAssertionBytes bounds a client assertion. It is above package jws's
// default for bearer tokens: MSAL's WithX5C puts the signer's certificate
// chain in the header (read for nothing: the certificate is looked up by
// thumbprint among the registered ones). The request body cap
// (Config.MaxBodyBytes, 64 KiB by default) bounds it too.
const maxAssertionBytes = 64 << 10

// clientAssertion is a parsed, not yet verified, client assertion.
type clientAssertion struct {
	Header       jws.Header
	Claims       assertionClaims
	SigningInput string
	Signature    []byte
	// Thumbprint is the decoded x5t#S256 (32 bytes) or x5t (20 bytes).
	Thumbprint []byte
	// ThumbprintParam names the header the thumbprint came from.
	ThumbprintParam string
	// Federated is set when iss is an external issuer's URL: the assertion
	// is a token of that issuer (workload identity federation), signed by
	// a key it names by kid, and carries no certificate thumbprint.
	Federated bool
}

// thumbprintText shows the presented thumbprint the way a user finds it
// for that header: x5t as Entra's upper-case SHA-1 hex, x5t#S256 in base64url.
func (a *clientAssertion) thumbprintText() string {
	if len(a.Thumbprint) == sha1.Size {
		return strings.ToUpper(hex.EncodeToString(a.Thumbprint))
	}
	return base64.RawURLEncoding.EncodeToString(a.Thumbprint)
}

func malformedAssertion(format string, a ...any) *Error {
	e := invalidClient(CodeMalformedAssertion, "Invalid JWT token. The client_assertion is not a valid JWT: "+format, a...)
	return e
}

// parseClientAssertion parses a compact JWS client assertion with package
// jws (strict base64url, exact header names, no crit): a header with an
// allow-listed alg and a certificate thumbprint, and JSON claims. It
// verifies nothing. Header problems (crit, alg, thumbprint) are reported
// before problems with the payload or signature, with Entra's codes.
func parseClientAssertion(raw string) (*clientAssertion, *Error) {
	if len(raw) > maxAssertionBytes {
		return nil, malformedAssertion("the assertion is %d bytes; at most %d are accepted.", len(raw), maxAssertionBytes)
	}
	tok, err := jws.Parse(raw, maxAssertionBytes)
	// errors.AsType, not errors.As: a pointer to pe would move it to the
	// heap on every request, valid ones included.
	pe, isParseError := errors.AsType[*jws.ParseError](err)
	var a clientAssertion
	switch {
	case err == nil:
		a.Header = tok.Header
	case !isParseError:
		return nil, malformedAssertion("%s.", clip(err.Error(), 200))
	case pe.Header != nil:
		a.Header = *pe.Header // check the header first; report pe after
	case pe.Segment == jws.SegmentToken:
		return nil, malformedAssertion("a compact JWS has three dot-separated parts, this has %d.", strings.Count(raw, ".")+1)
	case pe.Encoding && !strings.HasPrefix(raw, "."): // an empty header is not a JSON object
		return nil, malformedAssertion("the header is not base64url.")
	default:
		return nil, malformedAssertion("the header is not a JSON object of the expected shape.")
	}
	if a.Header.Has("crit") {
		return nil, malformedAssertion("the header lists critical extensions %s, which this server does not understand (RFC 7515 section 4.1.11).", quoteList(a.Header.Crit, 5))
	}
	if !isAllowedAlgorithm(a.Header.Alg) && !slices.Contains(federatedAlgorithms, a.Header.Alg) {
		return nil, unsupportedAlgorithm(a.Header.Alg)
	}
	// A certificate assertion names its certificate in the header; a
	// federated token (iss an external issuer's URL) names its key by kid.
	// Which one this is shows only in the payload, so the certificate
	// header's problems are kept and reported after the payload is read,
	// unless it is a federated token; payload problems come after them, as
	// before federation existed.
	certErr := a.certificateHeader()
	var payload []byte
	var payloadErr *Error
	switch {
	case pe == nil:
		payload = tok.Payload
	case pe.Segment == jws.SegmentPayload && strings.Contains(raw, ".."):
		// An empty payload: refused below as not a JSON object.
	case pe.Segment == jws.SegmentPayload:
		payloadErr = malformedAssertion("the payload is not base64url.")
	case pe.Segment == jws.SegmentSignature:
		payloadErr = malformedAssertion("the signature is missing or not base64url.")
	default: // a header problem the checks above did not name
		payloadErr = malformedAssertion("%s.", clip(pe.Error(), 200))
	}
	if payloadErr == nil {
		if err := json.Unmarshal(payload, &a.Claims); err != nil {
			payloadErr = malformedAssertion("the payload is not a JSON object with the expected claim types (%s).", clip(err.Error(), 120))
		}
	}
	if payloadErr == nil && isFederatedIssuer(a.Claims.Iss) {
		a.Federated = true
		a.SigningInput, a.Signature = tok.SigningInput, tok.Signature
		return &a, nil
	}
	if certErr != nil {
		return nil, certErr
	}
	if payloadErr != nil {
		return nil, payloadErr
	}
	a.SigningInput, a.Signature = tok.SigningInput, tok.Signature
	return &a, nil
}

// certificateHeader checks what a certificate assertion's header must
// hold (an allow-listed alg and a certificate thumbprint) and decodes the
// thumbprint.
func (a *clientAssertion) certificateHeader() *Error {
	if !isAllowedAlgorithm(a.Header.Alg) {
		return unsupportedAlgorithm(a.Header.Alg)
	}
	var err error
	switch {
	case a.Header.X5tS256 != "":
		a.ThumbprintParam = "x5t#S256"
		a.Thumbprint, err = pki.DecodeThumbprint(a.Header.X5tS256)
		if err == nil && len(a.Thumbprint) != sha256.Size {
			err = errors.New("not a SHA-256 digest")
		}
	case a.Header.X5t != "":
		a.ThumbprintParam = "x5t"
		a.Thumbprint, err = pki.DecodeThumbprint(a.Header.X5t)
		if err == nil && len(a.Thumbprint) != sha1.Size {
			err = errors.New("not a SHA-1 digest")
		}
	case len(a.Header.Kid) == 2*sha1.Size:
		// Some older SDKs put the SHA-1 thumbprint in hex into kid.
		a.ThumbprintParam = "kid"
		a.Thumbprint, err = hex.DecodeString(a.Header.Kid)
	default:
		return invalidClient(CodeInvalidCertificate,
			"Client assertion contains an invalid signature. [Reason - The header names no certificate: send the "+
				"certificate thumbprint as 'x5t#S256' (SHA-256) or 'x5t' (SHA-1).]")
	}
	if err != nil {
		return malformedAssertion("the header's %s is not a certificate thumbprint in base64 (%v).", a.ThumbprintParam, err)
	}
	return nil
}

func unsupportedAlgorithm(alg string) *Error {
	return invalidClient(CodeUnsupportedAlgorithm,
		"Invalid JWT token. '%s' is not a supported signature algorithm for client assertions. Supported signing algorithms are: '%s'. "+
			"Federated tokens from an external issuer may also use '%s'.",
		clip(alg, 20), strings.Join(assertionAlgorithms, ", "), strings.Join(federatedOnlyAlgorithms(), ", "))
}

func isAllowedAlgorithm(alg string) bool {
	for _, a := range assertionAlgorithms {
		if alg == a {
			return true
		}
	}
	return false
}

// verifySignature checks the JWS signature with the certificate's key
// (jws.VerifySignature); alg must suit the key type: RS256/PS256 for RSA,
// ES256/ES384/ES512 for EC P-256/P-384/P-521. The key-type check comes
// first so that the error names the certificate's key and the algs that
// suit it.
func verifySignature(alg string, pub crypto.PublicKey, input string, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg != "RS256" && alg != "PS256" {
			return fmt.Errorf("alg %s does not suit the certificate's RSA key; use RS256 or PS256", alg)
		}
	case *ecdsa.PublicKey:
		if !slices.Contains(jws.AlgorithmsFor(k), alg) {
			return fmt.Errorf("alg %s does not suit the certificate's EC key (%s); use ES256 with P-256, ES384 with P-384 or ES512 with P-521", alg, curveName(k))
		}
	default:
		return fmt.Errorf("certificate key type %T is not supported", pub)
	}
	return jws.VerifySignature(alg, pub, input, sig)
}

func curveName(k *ecdsa.PublicKey) string {
	if k.Curve == nil || k.Curve.Params() == nil {
		return "unknown curve"
	}
	return k.Curve.Params().Name
}

// registeredCert is a parsed key credential with its thumbprints.
type registeredCert struct {
	cert   *x509.Certificate
	sha1   [sha1.Size]byte
	sha256 [sha256.Size]byte
	err    error
}

// certCache keeps parsed registered certificates, keyed by their DER, so
// that a token request does not parse X.509 each time. Its certificates
// come from the directory (registered by administrators), not from
// requests; still, it is cleared when it grows past maxCertCache entries
// or maxCertCacheBytes of DER (counted twice: the key and the parsed copy).
type certCache struct {
	mu    sync.Mutex
	m     map[string]*registeredCert
	bytes int
}

const (
	maxCertCache      = 4096
	maxCertCacheBytes = 32 << 20
)

func (c *certCache) get(der []byte) *registeredCert {
	c.mu.Lock()
	rc, ok := c.m[string(der)]
	c.mu.Unlock()
	if ok {
		return rc
	}
	rc = &registeredCert{sha1: sha1.Sum(der), sha256: sha256.Sum256(der)}
	rc.cert, rc.err = x509.ParseCertificate(der)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCertCache || c.bytes+2*len(der) > maxCertCacheBytes {
		c.m = make(map[string]*registeredCert)
		c.bytes = 0
	}
	if _, ok := c.m[string(der)]; !ok {
		c.bytes += 2 * len(der)
	}
	c.m[string(der)] = rc
	c.mu.Unlock()
	return rc
}

// findCertificate returns the app's key credential whose thumbprint the
// assertion presents.
func (s *Server) findCertificate(app *directory.Application, a *clientAssertion) (*directory.KeyCredential, *registeredCert) {
	for i := range app.KeyCredentials {
		kc := &app.KeyCredentials[i]
		rc := s.certs.get(kc.CertificateDER)
		var match bool
		if len(a.Thumbprint) == sha256.Size {
			match = bytes.Equal(a.Thumbprint, rc.sha256[:])
		} else {
			match = bytes.Equal(a.Thumbprint, rc.sha1[:])
		}
		if match {
			return kc, rc
		}
	}
	return nil, nil
}

// verifyAssertion authenticates a client by its assertion (RFC 7523 §3,
// msal-protocol.md §5): registered certificate by thumbprint, credential
// validity, signature, audience, time window, lifetime and jti replay.
// issuer/sub/client_id were checked before the application was looked up.
// It returns the id of the key credential that signed and the SHA-256
// thumbprint of its certificate.
func (s *Server) verifyAssertion(ctx context.Context, now time.Time, base string, tenant *directory.Tenant, app *directory.Application, a *clientAssertion) (string, *[sha256.Size]byte, *Error) {
	kc, rc := s.findCertificate(app, a)
	if kc == nil {
		registered := make([]string, 0, len(app.KeyCredentials))
		for i := range app.KeyCredentials {
			rc := s.certs.get(app.KeyCredentials[i].CertificateDER)
			if a.ThumbprintParam == "x5t#S256" {
				registered = append(registered, "'"+base64.RawURLEncoding.EncodeToString(rc.sha256[:])+"'")
			} else {
				registered = append(registered, "'"+strings.ToUpper(hex.EncodeToString(rc.sha1[:]))+"'")
			}
		}
		list := "none"
		if len(registered) > 0 {
			list = strings.Join(registered, ", ")
		}
		return "", nil, invalidClient(CodeInvalidCertificate,
			"Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client (%s): '%s'. "+
				"Certificates registered for app '%s' (%s): %s. Register the certificate with the application, or sign with a registered one.]",
			a.ThumbprintParam, a.thumbprintText(), app.AppID, a.ThumbprintParam, list)
	}
	if rc.err != nil {
		return "", nil, invalidClient(CodeInvalidCertificate,
			"Client assertion contains an invalid signature. [Reason - The certificate registered with thumbprint '%s' for app '%s' cannot be parsed; register it again.]",
			kc.ThumbprintSHA1, app.AppID)
	}
	if !kc.NotAfter.IsZero() && now.After(kc.NotAfter) {
		return "", nil, invalidClient(CodeInvalidCertificate,
			"Client assertion failed signature validation. [Reason - The certificate with thumbprint '%s' registered for app '%s' expired on %s. "+
				"Register a new certificate with the application and sign with it.]",
			kc.ThumbprintSHA1, app.AppID, kc.NotAfter.UTC().Format(time.RFC3339))
	}
	if !kc.NotBefore.IsZero() && now.Before(kc.NotBefore) {
		return "", nil, invalidClient(CodeInvalidCertificate,
			"Client assertion failed signature validation. [Reason - The certificate with thumbprint '%s' registered for app '%s' is not valid before %s.]",
			kc.ThumbprintSHA1, app.AppID, kc.NotBefore.UTC().Format(time.RFC3339))
	}
	if err := verifySignature(a.Header.Alg, rc.cert.PublicKey, a.SigningInput, a.Signature); err != nil {
		return "", nil, invalidClient(CodeInvalidCertificate,
			"Client assertion failed signature validation. [Reason - The signature does not verify with the certificate with thumbprint '%s' registered for app '%s' (%s).]",
			kc.ThumbprintSHA1, app.AppID, err)
	}
	if !s.audienceMatches(base, tenant, a.Claims.Aud) {
		got := "missing"
		if len(a.Claims.Aud) > 0 {
			got = quoteList(a.Claims.Aud, 5)
		}
		return "", nil, invalidClient(CodeAssertionAudience,
			"Client assertion audience claim does not match Realm issuer. Review the documentation at https://aka.ms/certCreds. "+
				"The aud claim is %s; expected the token endpoint '%s/%s/oauth2/v2.0/token'.",
			got, base, tenant.ID)
	}
	if e := s.checkAssertionTime(now, &a.Claims, s.cfg.MaxAssertionLifetime, false); e != nil {
		return "", nil, e
	}
	if a.Claims.Jti == "" {
		return "", nil, malformedAssertion("the jti claim is missing; send a unique jti (a new GUID) in every assertion.")
	}
	if len(a.Claims.Jti) > 256 {
		return "", nil, malformedAssertion("the jti claim is longer than 256 characters.")
	}
	// Remember the jti until the assertion could no longer be accepted.
	// Remembered here first (a replay on this node costs no I/O), then for
	// the cluster when a ReplayLog is configured.
	until := a.Claims.Exp.Add(s.cfg.AssertionLeeway)
	if !s.replay.add(app.AppID, a.Claims.Jti, until, now) || s.shared != nil && !s.shared.record(ctx, replayKeyOf(app.AppID, a.Claims.Jti), until, now) {
		return "", nil, invalidClient(CodeMalformedAssertion,
			"Invalid JWT token. The client assertion with jti '%s' was already used; every assertion must carry a new jti and may be used once.",
			clip(a.Claims.Jti, 100))
	}
	return kc.ID, &rc.sha256, nil
}

// checkAssertionTime enforces exp, nbf and iat with leeway, and the
// maximum lifetime (exp−nbf, else exp−iat, else exp−now). A federated
// token is minted by its issuer, not by the client: the advice says so.
func (s *Server) checkAssertionTime(now time.Time, c *assertionClaims, maxLifetime time.Duration, federated bool) *Error {
	leeway := s.cfg.AssertionLeeway
	if c.Exp == nil {
		return malformedAssertion("the exp claim is missing; an assertion must expire (at most %s after nbf).", maxLifetime)
	}
	start := now
	switch {
	case c.Nbf != nil:
		start = c.Nbf.Time
	case c.Iat != nil:
		start = c.Iat.Time
	}
	tooEarly := c.Nbf != nil && now.Add(leeway).Before(c.Nbf.Time) || c.Iat != nil && now.Add(leeway).Before(c.Iat.Time)
	if now.After(c.Exp.Add(leeway)) || tooEarly {
		fix := "Check the client's clock and create a new assertion for each request."
		if federated {
			fix = "Check the clocks of this server and of the issuer, and present a current token of the issuer (a token file is re-read; azidentity does so every 10 minutes)."
		}
		return invalidClient(CodeAssertionTime,
			"Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. "+
				"Allowed clock skew: %s. %s",
			fmtTime(now), fmtTime(start), fmtTime(c.Exp.Time), leeway, fix)
	}
	if life := c.Exp.Sub(start); life > maxLifetime {
		fix := fmt.Sprintf("Set exp at most %s after nbf.", maxLifetime)
		if federated {
			fix = fmt.Sprintf("Request a token of the issuer that lives at most %s (Kubernetes: expirationSeconds of the projected token).", maxLifetime)
		}
		return invalidClient(CodeAssertionTime,
			"Client assertion is valid for too long: from %s to %s (%s); at most %s is allowed. %s",
			fmtTime(start), fmtTime(c.Exp.Time), life.Round(time.Second), maxLifetime, fix)
	}
	return nil
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// audienceMatches reports whether one aud value names this tenant's token
// endpoint (v2 or v1) or issuer, by tenant id or name, under base.
func (s *Server) audienceMatches(base string, tenant *directory.Tenant, aud jws.Audience) bool {
	for _, v := range aud {
		v = strings.TrimSuffix(v, "/")
		if len(v) <= len(base) || !strings.EqualFold(v[:len(base)], base) || v[len(base)] != '/' {
			continue
		}
		seg, rest, _ := strings.Cut(v[len(base)+1:], "/")
		if !strings.EqualFold(seg, tenant.ID) && !strings.EqualFold(seg, tenant.Name) {
			continue
		}
		switch rest {
		case "oauth2/v2.0/token", "oauth2/token", "v2.0":
			return true
		}
	}
	return false
}
