package sts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/jws"
)

// AADSTS codes of workload identity federation, as Entra returns them.
const (
	CodeNoFederatedRecord         = 70021   // the application has no federated identity credential at all
	CodeFederatedIssuerMismatch   = 700211  // no federated credential for the assertion's issuer
	CodeFederatedAudienceMismatch = 700212  // issuer and subject match, audience does not
	CodeFederatedSubjectMismatch  = 700213  // issuer matches, subject does not
	CodeFederatedKeyNotFound      = 7000272 // the token's kid is not in the issuer's published keys
	CodeExternalOIDCFailed        = 50166   // the issuer's discovery document or JWKS cannot be fetched
)

// federatedAlgorithms is the allow-list for tokens of external issuers:
// RSA PKCS#1 v1.5 and PSS, and ECDSA, with SHA-256/384/512 (what OIDC
// providers and Kubernetes sign with). Never "none", HMAC or EdDSA.
var federatedAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

// federatedOnlyAlgorithms lists what federated tokens may use beyond the
// certificate-assertion algorithms.
func federatedOnlyAlgorithms() []string {
	var out []string
	for _, a := range federatedAlgorithms {
		if !isAllowedAlgorithm(a) {
			out = append(out, a)
		}
	}
	return out
}

// isFederatedIssuer reports whether an assertion's iss names an external
// issuer: a URL, where a certificate assertion's iss is the client's id.
func isFederatedIssuer(iss string) bool {
	return strings.HasPrefix(iss, "https://") || strings.HasPrefix(iss, "http://")
}

// verifyFederatedAssertion authenticates a client by a token of an
// external issuer (workload identity federation): a federated identity
// credential of the application names the token's issuer exactly; the
// signature verifies with that issuer's key named by kid (discovery and
// JWKS, a fixed JWKS URL, or a static key set; see issuerKeySources);
// exp/nbf/iat hold with leeway and the lifetime is at most
// MaxFederatedTokenLifetime; then sub and aud must match one credential
// of that issuer exactly (case-sensitive, as Entra).
//
// Unlike a certificate assertion, a federated token is not single-use:
// the issuer mints it, and clients present one token for as long as it
// lives (azidentity's WorkloadIdentityCredential re-reads the token file
// at most every 10 minutes and sends the same token for every scope;
// Kubernetes rotates the file when 80% of its lifetime has passed), as
// Entra accepts. Its jti, when present, is therefore not recorded.
func (s *Server) verifyFederatedAssertion(ctx context.Context, now time.Time, app *directory.Application, a *clientAssertion) (string, *Error) {
	c := &a.Claims
	fics := app.FederatedIdentityCredentials
	if len(fics) == 0 {
		return "", invalidClient(CodeNoFederatedRecord,
			"No matching federated identity record found for presented assertion. %s Application '%s' has no federated identity credentials; "+
				"add one for this issuer and subject with `portcullis app federated add` (POST /admin/v1/tenants/{tenant}/applications/%s/federatedIdentityCredentials).",
			presentedClaims(c), app.AppID, app.AppID)
	}
	var byIssuer []*directory.FederatedIdentityCredential
	for i := range fics {
		if fics[i].Issuer == c.Iss {
			byIssuer = append(byIssuer, &fics[i])
		}
	}
	if len(byIssuer) == 0 {
		// What is registered is not echoed: the caller is not authenticated
		// yet, and an application's trusted issuers (a private cluster's
		// issuer URL, a cloud account in it) are its owner's to see.
		return "", invalidClient(CodeFederatedIssuerMismatch,
			"No matching federated identity record found for presented assertion issuer '%s'. None of the %d federated identity credentials of app '%s' has this issuer. "+
				"Please check your federated identity credential Subject, Audience and Issuer against the presented assertion; the issuer must match exactly, trailing slash included. "+
				"The application's owner can compare with `portcullis app federated list %s`.",
			clip(c.Iss, 200), len(fics), app.AppID, app.AppID)
	}
	if e := s.verifyFederatedSignature(ctx, a, byIssuer); e != nil {
		return "", e
	}
	if e := s.checkAssertionTime(now, c, s.cfg.MaxFederatedTokenLifetime, true); e != nil {
		return "", e
	}
	var bySubject []*directory.FederatedIdentityCredential
	for _, f := range byIssuer {
		if f.Subject == c.Sub {
			bySubject = append(bySubject, f)
		}
	}
	if len(bySubject) == 0 {
		// The registered subjects are not echoed: on a shared issuer (GitHub
		// Actions, GitLab) anyone can hold a validly signed token, and the
		// subjects would name the owner's private repositories and branches.
		return "", invalidClient(CodeFederatedSubjectMismatch,
			"No matching federated identity record found for presented assertion subject '%s'. None of the %d federated identity credentials of app '%s' for issuer '%s' has this subject; "+
				"the subject must match exactly (case-sensitive). The application's owner can compare with `portcullis app federated list %s`.",
			clip(c.Sub, 200), len(byIssuer), app.AppID, clip(c.Iss, 200), app.AppID)
	}
	for _, f := range bySubject {
		for _, want := range f.Audiences {
			if slices.Contains(c.Aud, want) {
				return f.ID, nil
			}
		}
	}
	got := "none"
	if len(c.Aud) > 0 {
		got = quoteList(c.Aud, 5)
	}
	return "", invalidClient(CodeFederatedAudienceMismatch,
		"No matching federated identity record found for presented assertion audience %s. The federated identity credential '%s' for issuer '%s' and subject '%s' "+
			"expects audience %s; request the token from the issuer for that audience (for azidentity and Kubernetes: api://AzureADTokenExchange).",
		got, bySubject[0].Name, clip(c.Iss, 200), clip(c.Sub, 200), quoteList(bySubject[0].Audiences, 5))
}

// verifyFederatedSignature checks the token's signature with its issuer's
// key named by kid, trying each key configuration the issuer's
// credentials use (discovery, a JWKS URL, static keys) until one holds
// the kid.
func (s *Server) verifyFederatedSignature(ctx context.Context, a *clientAssertion, creds []*directory.FederatedIdentityCredential) *Error {
	iss, kid, alg := a.Claims.Iss, a.Header.Kid, a.Header.Alg
	if !slices.Contains(federatedAlgorithms, alg) {
		return unsupportedAlgorithm(alg)
	}
	if kid == "" {
		return malformedAssertion("the header has no kid; a token of an external issuer must name its signing key by kid.")
	}
	var keyErr error
	seen := make(map[issuerKeyConfig]bool, len(creds))
	for _, f := range creds {
		cfg := keyConfigOf(f)
		if seen[cfg] {
			continue
		}
		seen[cfg] = true
		src, err := s.federation.source(ctx, cfg)
		if err != nil {
			keyErr = err
			continue
		}
		pub, err := src.Key(ctx, iss, kid)
		if err != nil {
			keyErr = err
			continue
		}
		if !slices.Contains(jws.AlgorithmsFor(pub), alg) {
			return malformedAssertion("alg %s does not suit key '%s' of issuer '%s' (it suits %s).", alg, clip(kid, 64), clip(iss, 200), strings.Join(jws.AlgorithmsFor(pub), ", "))
		}
		if err := jws.VerifySignature(alg, pub, a.SigningInput, a.Signature); err != nil {
			return malformedAssertion("the signature does not verify with key '%s' of issuer '%s'.", clip(kid, 64), clip(iss, 200))
		}
		return nil
	}
	if errors.Is(keyErr, guard.ErrKeySourceUnavailable) {
		return newError(http.StatusServiceUnavailable, "temporarily_unavailable", CodeExternalOIDCFailed,
			"Request to External OIDC endpoint failed. The signing keys of issuer '%s' cannot be fetched now, and key '%s' is not among the last keys fetched (%s). "+
				"Check that the issuer's discovery document and JWKS are reachable from this server, then retry; "+
				"for an issuer without a discovery document, give the credential a jwksUri or its keys.",
			clip(iss, 200), clip(kid, 64), clip(keyErr.Error(), 400))
	}
	return invalidClient(CodeFederatedKeyNotFound,
		"The certificate with identifier '%s' used to sign the federated credential could not be found in the metadata of identity provider '%s' (%s). "+
			"Please validate that your identity provider's metadata exposes the key used to sign the incoming token; with static keys, update the credential's keys.",
		clip(kid, 64), clip(iss, 200), clip(fmt.Sprint(keyErr), 400))
}

// presentedClaims names what a federated token presented, as Entra's
// AADSTS70021 does.
func presentedClaims(c *assertionClaims) string {
	aud := "none"
	if len(c.Aud) > 0 {
		aud = strings.Join(c.Aud, "', '")
	}
	return fmt.Sprintf("Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.", clip(c.Iss, 200), clip(c.Sub, 200), clip(aud, 300))
}

// issuerKeyConfig is how the keys of one issuer are found: discovery
// (JWKSURI and Keys empty), a JWKS URL, or a static JWK Set.
type issuerKeyConfig struct {
	issuer, jwksURI, keys string
}

func keyConfigOf(f *directory.FederatedIdentityCredential) issuerKeyConfig {
	return issuerKeyConfig{issuer: f.Issuer, jwksURI: f.JWKSURI, keys: string(f.Keys)}
}

// maxIssuerKeySources bounds the key sources kept per node; past it the
// cache starts over (the sources refetch on next use).
const maxIssuerKeySources = 1024

// issuerKeySources keeps one guard key source per issuer key
// configuration, per node, so that an issuer's keys are fetched once and
// kept through its outages (guard.OIDCKeySource: refetch on unknown kid at
// most every 30 s, refresh hourly, last good keys).
type issuerKeySources struct {
	client *http.Client
	now    func() time.Time
	log    *slog.Logger

	mu sync.Mutex
	m  map[issuerKeyConfig]guard.KeySource
}

func newIssuerKeySources(client *http.Client, now func() time.Time, log *slog.Logger) *issuerKeySources {
	return &issuerKeySources{client: client, now: now, log: log, m: make(map[issuerKeyConfig]guard.KeySource)}
}

// source returns the key source for cfg, creating it (and loading its
// keys, within ctx) on first use.
func (c *issuerKeySources) source(ctx context.Context, cfg issuerKeyConfig) (guard.KeySource, error) {
	c.mu.Lock()
	src, ok := c.m[cfg]
	c.mu.Unlock()
	if ok {
		return src, nil
	}
	opts := guard.OIDCOptions{HTTPClient: c.client, Now: c.now, Logger: c.log}
	var err error
	switch {
	case cfg.keys != "":
		src, err = guard.NewStaticKeys(cfg.issuer, []byte(cfg.keys))
	case cfg.jwksURI != "":
		src, err = guard.NewJWKSKeySource(ctx, cfg.issuer, cfg.jwksURI, opts)
	default:
		src, err = guard.NewOIDCKeySource(ctx, cfg.issuer, opts)
	}
	if err != nil {
		// The directory validated the configuration; a failure here is
		// the server's problem, not the client's.
		return nil, fmt.Errorf("%w: the key configuration of issuer %s cannot be used: %v", guard.ErrKeySourceUnavailable, cfg.issuer, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[cfg]; ok {
		return prev, nil // another request created it meanwhile
	}
	if len(c.m) >= maxIssuerKeySources {
		c.m = make(map[issuerKeyConfig]guard.KeySource)
	}
	c.m[cfg] = src
	return src, nil
}
