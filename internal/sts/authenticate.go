package sts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/pki"
)

// Client authentication methods. The first three are the token endpoint's
// (as discovery names them, RFC 8414 §2); MethodClientCertificate is a TLS
// client certificate checked by CheckClientCertificate (RFC 8705 §2.2 name).
const (
	MethodSecretBasic       = "client_secret_basic"
	MethodSecretPost        = "client_secret_post"
	MethodPrivateKeyJWT     = "private_key_jwt"
	MethodClientCertificate = "self_signed_tls_client_auth"
	MethodNone              = "none"
)

// Authentication context class references, as azpacr/appidacr carry them.
const (
	acrSecret      = "1"
	acrCertificate = "2"
)

// ClientAuthentication is what a client presents to prove it is an
// application of a tenant. AuthenticateClient checks it.
type ClientAuthentication struct {
	// Tenant is the tenant's id or name, any case.
	Tenant string
	// BaseURL is the public "https://host[:port]" the request was sent to;
	// a client assertion's aud must name this tenant's token endpoint or
	// issuer under it (RFC 7523 §3 item 3).
	BaseURL string
	// Method is one of the Method constants.
	Method string
	// ClientID is the application (client) id, a GUID. With
	// MethodPrivateKeyJWT it may be empty: the assertion's sub names the
	// client (RFC 7523 §3).
	ClientID string
	// Secret is the client secret (MethodSecretBasic, MethodSecretPost).
	Secret Secret
	// Assertion is the compact JWS client assertion (MethodPrivateKeyJWT).
	Assertion Secret
	// Certificate is the TLS client certificate (MethodClientCertificate).
	Certificate *x509.Certificate
	// Source is the client's IP address, for the per-address failure
	// limit; empty skips that limit.
	Source string
}

// AuthenticatedClient is an application that proved one of its
// credentials. Tenant and Application point into the directory snapshot
// the check ran against: read them, never modify them.
type AuthenticatedClient struct {
	Tenant      *directory.Tenant
	Application *directory.Application
	// Method is how the client authenticated (a Method constant).
	Method string
	// ACR is "1" for a secret and "2" for a certificate, as Entra's
	// azpacr and appidacr claims.
	ACR string
	// CredentialID is the id of the password or key credential that
	// matched; never the credential itself.
	CredentialID string
	// CertificateS256 is the base64url (unpadded) SHA-256 thumbprint of
	// the certificate that authenticated the client (the registered
	// certificate that verified its assertion, or its TLS client
	// certificate); "" for a secret or a federated token. A
	// certificate-bound token carries it as cnf["x5t#S256"] (RFC 8705 §3.1).
	CertificateS256 string
}

// AuthenticateClient is the client-authentication phase of a token request,
// exported for every surface that accepts an application's credentials
// (the gateway's Basic and client-certificate authenticators). It checks a
// client secret (constant time per registered secret), a certificate-signed
// client assertion (registered thumbprint, credential validity, signature,
// audience, time window, jti replay) or a registered TLS client certificate,
// against the directory snapshot currently served.
//
// Failures are counted per client id and per source address: over either
// budget the answer is 429 instead of the detailed error (a client id over
// its budget is throttled for failures only; a valid credential still
// succeeds). Errors are *Error values ready for writeError; none carries a
// secret.
func (s *Server) AuthenticateClient(ctx context.Context, in ClientAuthentication) (AuthenticatedClient, *Error) {
	st, now := s.cur.Load(), s.now()
	t, ok := st.snap.Tenant(in.Tenant)
	if !ok {
		return AuthenticatedClient{}, unknownTenant(in.Tenant)
	}
	if e := s.checkSource(in.Source, now); e != nil {
		return AuthenticatedClient{}, e
	}
	return s.authenticateClient(ctx, st, t, now, &in)
}

// CheckClientSecret authenticates an application of tenant by one of its
// client secrets, as HTTP Basic credentials present them.
func (s *Server) CheckClientSecret(ctx context.Context, tenant, clientID, secret string) (AuthenticatedClient, *Error) {
	return s.AuthenticateClient(ctx, ClientAuthentication{Tenant: tenant, Method: MethodSecretBasic, ClientID: clientID, Secret: Secret(secret)})
}

// CheckClientCertificate authenticates an application of tenant by a TLS
// client certificate: the certificate must be registered on the
// application (same DER) and both it and the registration must be valid
// now. The TLS handshake has already proved possession of its key.
func (s *Server) CheckClientCertificate(ctx context.Context, tenant, clientID string, cert *x509.Certificate) (AuthenticatedClient, *Error) {
	return s.AuthenticateClient(ctx, ClientAuthentication{Tenant: tenant, Method: MethodClientCertificate, ClientID: clientID, Certificate: cert})
}

// checkSource refuses a source address over its failure budget.
func (s *Server) checkSource(src string, now time.Time) *Error {
	k, ok := sourceKey(src)
	if !ok {
		return nil
	}
	if wait, blocked := s.sourceLimiter.blocked(k, now); blocked {
		return throttled(wait, "from this network address")
	}
	return nil
}

// authenticateClient runs the phase against one state and does the
// failure bookkeeping: a failed authentication (Error.authFailure) takes a
// token from the client id's and the source's buckets. A client id that is
// not a GUID has no bucket: it cannot name an application, and keeping it
// would let unauthenticated requests fill memory with their text.
func (s *Server) authenticateClient(ctx context.Context, st *state, t *directory.Tenant, now time.Time, in *ClientAuthentication) (AuthenticatedClient, *Error) {
	clientID := in.ClientID
	c, e := s.verifyClient(ctx, st, t, now, in, &clientID)
	if e != nil && e.authFailure() {
		if k, ok := clientKey(clientID); ok {
			s.clientLimiter.fail(k, now)
			if s.cfg.FailureLog != nil {
				s.cfg.FailureLog.RecordFailure(FailureScopeClient, k)
			}
		}
		if k, ok := sourceKey(in.Source); ok {
			s.sourceLimiter.fail(k, now)
			if s.cfg.FailureLog != nil {
				s.cfg.FailureLog.RecordFailure(FailureScopeSource, k)
			}
		}
	}
	return c, e
}

// verifyClient checks the credential. clientID is updated to the
// assertion's sub when the request did not name the client.
func (s *Server) verifyClient(ctx context.Context, st *state, t *directory.Tenant, now time.Time, in *ClientAuthentication, clientID *string) (AuthenticatedClient, *Error) {
	var assertion *clientAssertion
	if in.Method == MethodPrivateKeyJWT {
		a, e := parseClientAssertion(string(in.Assertion))
		if e != nil {
			return AuthenticatedClient{}, e
		}
		c := &a.Claims
		switch {
		case a.Federated && in.ClientID == "":
			// A federated token's sub is the workload, not the client.
			return AuthenticatedClient{}, invalidRequest(CodeMissingParameter,
				"The request body must contain the following parameter: 'client_id'. The client_assertion was issued by '%s', an external issuer "+
					"(workload identity federation): send the application (client) id as client_id.", clip(c.Iss, 200))
		case a.Federated:
		case c.Sub == "":
			return AuthenticatedClient{}, malformedAssertion("the sub claim is missing; set iss and sub to the application (client) id.")
		case c.Iss != c.Sub:
			return AuthenticatedClient{}, invalidClient(CodeAssertionIssuer,
				"The issuer (iss '%s') and subject (sub '%s') of the client assertion differ; both must be the application (client) id. "+
					"(A token of an external issuer, for workload identity federation, has an https URL as iss.)",
				clip(c.Iss, 100), clip(c.Sub, 100))
		case in.ClientID == "":
			*clientID = c.Sub // RFC 7523 §3: client_id may be omitted
		case !strings.EqualFold(in.ClientID, c.Sub):
			return AuthenticatedClient{}, invalidClient(CodeAssertionClientID,
				"Client assertion application identifier (sub '%s') doesn't match 'client_id' parameter ('%s'). Review the documentation at https://aka.ms/certCreds.",
				clip(c.Sub, 100), clip(in.ClientID, 100))
		}
		assertion = a
	}
	// A client id over its failure budget is not locked out: a request with
	// a valid credential still gets its token (otherwise anyone who knows a
	// client id could keep it out); a failing one gets 429 instead of the
	// detailed error, so guessing learns nothing.
	var (
		clientWait    time.Duration
		clientBlocked bool
		app           *directory.Application
	)
	if k, ok := clientKey(*clientID); ok {
		clientWait, clientBlocked = s.clientLimiter.blocked(k, now)
		app, _ = st.snap.Application(t.ID, *clientID)
	}
	if app == nil {
		return AuthenticatedClient{}, newError(http.StatusBadRequest, "unauthorized_client", CodeUnknownClient,
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been "+
				"registered in this tenant or if the request was sent to the wrong tenant; check the client id and the tenant in the URL.",
			clip(*clientID, 100), t.Name)
	}
	out := AuthenticatedClient{Tenant: t, Application: app, Method: in.Method, ACR: acrSecret}
	var e *Error
	switch in.Method {
	case MethodSecretBasic, MethodSecretPost:
		out.CredentialID, e = s.verifySecret(now, app, string(in.Secret))
	case MethodPrivateKeyJWT:
		if assertion.Federated {
			out.CredentialID, e = s.verifyFederatedAssertion(ctx, now, app, assertion)
		} else {
			var sum *[sha256.Size]byte
			out.CredentialID, sum, e = s.verifyAssertion(ctx, now, in.BaseURL, t, app, assertion)
			if e == nil {
				out.CertificateS256 = base64.RawURLEncoding.EncodeToString(sum[:])
			}
		}
		out.ACR = acrCertificate
	case MethodClientCertificate:
		out.CredentialID, e = s.verifyClientCertificate(now, app, in.Certificate)
		out.ACR = acrCertificate
		if e == nil {
			out.CertificateS256 = pki.X5TS256(in.Certificate)
		}
	default:
		e = invalidClient(CodeNoCredential,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'. "+
				"Application '%s' is a confidential client: authenticate with a client secret (client_secret_post or HTTP Basic) "+
				"or a certificate-signed client_assertion.", app.AppID)
	}
	if e != nil {
		if clientBlocked {
			e = throttled(clientWait, "for application '"+clip(*clientID, 100)+"'")
		}
		return AuthenticatedClient{}, e
	}
	return out, nil
}

// verifySecret authenticates a client by secret, in constant time per
// registered secret, and tells a user who sent the secret's id instead of
// its value so. It returns the matching credential's id.
func (s *Server) verifySecret(now time.Time, app *directory.Application, text string) (string, *Error) {
	for i := range app.PasswordCredentials {
		pc := &app.PasswordCredentials[i]
		if !directory.SecretMatches(pc.Hash, text) {
			continue
		}
		if !pc.ExpiresAt.IsZero() && now.After(pc.ExpiresAt) {
			return "", invalidClient(CodeSecretExpired,
				"The provided client secret keys for app '%s' are expired. The secret '%s…' (id %s) expired on %s. "+
					"Create a new client secret for the application, or consider using certificate credentials.",
				app.AppID, pc.Hint, pc.ID, pc.ExpiresAt.UTC().Format(time.RFC3339))
		}
		if !pc.StartAt.IsZero() && now.Before(pc.StartAt) {
			return "", invalidClient(CodeInvalidSecret,
				"Invalid client secret provided. The secret '%s…' (id %s) of app '%s' is not valid before %s.",
				pc.Hint, pc.ID, app.AppID, pc.StartAt.UTC().Format(time.RFC3339))
		}
		return pc.ID, nil
	}
	for i := range app.PasswordCredentials {
		pc := &app.PasswordCredentials[i]
		if strings.EqualFold(strings.TrimSpace(text), pc.ID) {
			// No hint here: the caller has shown only the id, and the hint is
			// the first characters of the secret.
			return "", invalidClient(CodeInvalidSecret,
				"Invalid client secret provided. The value sent is the ID of the client secret %s, not the secret's value. "+
					"Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.",
				pc.ID, app.AppID)
		}
	}
	if len(app.PasswordCredentials) == 0 {
		return "", invalidClient(CodeInvalidSecret,
			"Invalid client secret provided. App '%s' has no client secrets; add one, or authenticate with a certificate.", app.AppID)
	}
	return "", invalidClient(CodeInvalidSecret,
		"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, "+
			"for a secret added to app '%s'.", app.AppID)
}

// verifyClientCertificate authenticates a client by a TLS client
// certificate registered on the application.
func (s *Server) verifyClientCertificate(now time.Time, app *directory.Application, cert *x509.Certificate) (string, *Error) {
	if cert == nil {
		return "", invalidClient(CodeNoCredential,
			"No client certificate was presented. Application '%s' authenticates here with a TLS client certificate registered on it.", app.AppID)
	}
	var kc *directory.KeyCredential
	for i := range app.KeyCredentials {
		if bytes.Equal(app.KeyCredentials[i].CertificateDER, cert.Raw) {
			kc = &app.KeyCredentials[i]
			break
		}
	}
	if kc == nil {
		sum := sha256.Sum256(cert.Raw)
		return "", invalidClient(CodeInvalidCertificate,
			"The client certificate (x5t#S256 '%s', subject '%s') is not registered for app '%s'. Register the certificate with the application, "+
				"or present a registered one.", base64.RawURLEncoding.EncodeToString(sum[:]), clip(cert.Subject.String(), 200), app.AppID)
	}
	notBefore, notAfter := cert.NotBefore, cert.NotAfter
	if !kc.NotBefore.IsZero() && kc.NotBefore.After(notBefore) {
		notBefore = kc.NotBefore
	}
	if !kc.NotAfter.IsZero() && kc.NotAfter.Before(notAfter) {
		notAfter = kc.NotAfter
	}
	if now.After(notAfter) {
		return "", invalidClient(CodeInvalidCertificate,
			"The client certificate with thumbprint '%s' registered for app '%s' expired on %s. Register a new certificate with the application and present it.",
			kc.ThumbprintSHA1, app.AppID, notAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(notBefore) {
		return "", invalidClient(CodeInvalidCertificate,
			"The client certificate with thumbprint '%s' registered for app '%s' is not valid before %s.",
			kc.ThumbprintSHA1, app.AppID, notBefore.UTC().Format(time.RFC3339))
	}
	return kc.ID, nil
}
