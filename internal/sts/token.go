package sts

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
)

// accessTokenClaims is Entra's v2.0 app-only claim set (msal-protocol.md §8).
type accessTokenClaims struct {
	Aud      string   `json:"aud"`
	Iss      string   `json:"iss"`
	Iat      int64    `json:"iat"`
	Nbf      int64    `json:"nbf"`
	Exp      int64    `json:"exp"`
	Azp      string   `json:"azp"`
	Azpacr   string   `json:"azpacr"`
	AppID    string   `json:"appid"`
	AppIDAcr string   `json:"appidacr"`
	Idtyp    string   `json:"idtyp"`
	Oid      string   `json:"oid"`
	Roles    []string `json:"roles,omitempty"`
	Sub      string   `json:"sub"`
	Tid      string   `json:"tid"`
	Uti      string   `json:"uti"`
	Ver      string   `json:"ver"`
}

// oidcScopes are sent by MSAL with every request and ignored for the
// client-credentials grant (msal-protocol.md §1.5).
var oidcScopes = [...]string{"openid", "offline_access", "profile", "email"}

// handleToken serves POST /{tenant}/oauth2/v2.0/token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	now := s.now()
	base := s.baseURL(r)
	st := s.cur.Load()
	src := sourceAddress(r)
	var method, clientID string
	fail := func(e *Error) {
		if e.authFailure() {
			s.clientLimiter.fail(strings.ToLower(clientID), now)
			s.sourceLimiter.fail(src, now)
		}
		s.metrics.failure(method, e.Code, start)
		s.writeError(w, r, base, e, method == authSecretBasic)
	}

	seg := r.PathValue("tenant")
	t, ok := st.snap.Tenant(seg)
	if !ok {
		fail(unknownTenant(seg))
		return
	}
	if wait, blocked := s.sourceLimiter.blocked(src, now); blocked {
		fail(throttled(wait, "from this network address"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			e := invalidRequest(CodeMalformedRequest, "Invalid request. The request body exceeds %d bytes.", s.cfg.MaxBodyBytes)
			e.Status = http.StatusRequestEntityTooLarge
			fail(e)
			return
		}
		fail(invalidRequest(CodeMalformedRequest, "Invalid request. The request body could not be read."))
		return
	}
	req, e := parseTokenRequest(r.Header.Get("Content-Type"), body, r.Header.Get("Authorization"))
	method, clientID = req.AuthMethod, req.ClientID
	if e != nil {
		fail(e)
		return
	}

	var assertion *clientAssertion
	if method == authPrivateKey {
		if assertion, e = parseClientAssertion(string(req.ClientAssertion)); e != nil {
			fail(e)
			return
		}
		c := &assertion.Claims
		switch {
		case c.Sub == "":
			fail(malformedAssertion("the sub claim is missing; set iss and sub to the application (client) id."))
			return
		case c.Iss != c.Sub:
			fail(invalidClient(CodeAssertionIssuer,
				"The issuer (iss '%s') and subject (sub '%s') of the client assertion differ; both must be the application (client) id.",
				clip(c.Iss, 100), clip(c.Sub, 100)))
			return
		case req.ClientID == "":
			clientID = c.Sub // RFC 7523 §3: client_id may be omitted
		case !strings.EqualFold(req.ClientID, c.Sub):
			fail(invalidClient(CodeAssertionClientID,
				"Client assertion application identifier (sub '%s') doesn't match 'client_id' parameter ('%s'). Review the documentation at https://aka.ms/certCreds.",
				clip(c.Sub, 100), clip(req.ClientID, 100)))
			return
		}
	}
	// A client id over its failure budget is not locked out: a request with
	// a valid credential still gets its token (otherwise anyone who knows a
	// client id could keep it out); a failing one gets 429 instead of the
	// detailed error, so guessing learns nothing.
	clientWait, clientBlocked := s.clientLimiter.blocked(strings.ToLower(clientID), now)
	app, ok := st.snap.Application(t.ID, clientID)
	if !ok {
		fail(newError(http.StatusBadRequest, "unauthorized_client", CodeUnknownClient,
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been "+
				"registered in this tenant or if the request was sent to the wrong tenant; check the client id and the tenant in the URL.",
			clip(clientID, 100), t.Name))
		return
	}
	ref := tenantRef{ID: t.ID, Name: t.Name}
	acr := "1"
	switch method {
	case authSecretBasic, authSecretPost:
		e = s.verifySecret(now, app, string(req.ClientSecret))
	case authPrivateKey:
		e = s.verifyAssertion(now, base, ref, app, assertion)
		acr = "2"
	default:
		e = invalidClient(CodeNoCredential,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'. "+
				"Application '%s' is a confidential client: authenticate with a client secret (client_secret_post or HTTP Basic) "+
				"or a certificate-signed client_assertion.", app.AppID)
	}
	if e != nil {
		if clientBlocked {
			e = throttled(clientWait, "for application '"+clip(clientID, 100)+"'")
		}
		fail(e)
		return
	}

	resource, e := resourceFromScope(req.Scope)
	if e != nil {
		fail(e)
		return
	}
	res, ok := st.snap.Resource(t.ID, resource)
	if !ok && strings.HasSuffix(resource, "/") {
		res, ok = st.snap.Resource(t.ID, strings.TrimSuffix(resource, "/"))
	}
	if !ok {
		fail(newError(http.StatusBadRequest, "invalid_resource", CodeUnknownResource,
			"The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been "+
				"registered in the tenant, or the scope names it by a wrong identifier URI or application id. "+
				"You might have sent your authentication request to the wrong tenant.", clip(resource, 200), t.Name))
		return
	}

	key := st.signer(t.ID, now)
	if key == nil {
		fail(newError(http.StatusServiceUnavailable, "temporarily_unavailable", CodeNoSigningKey,
			"The tenant '%s' has no active signing key yet. Retry shortly; if this persists, ask the operator to create one "+
				"(signing keys are created on start and by rotation).", t.Name))
		return
	}
	lifetime := res.AccessTokenLifetime
	if lifetime <= 0 {
		lifetime = s.cfg.DefaultTokenLifetime
	}
	lifetime = min(lifetime, s.cfg.MaxTokenLifetime)
	iat := now.Unix()
	claims := accessTokenClaims{
		Aud: res.AppID, Iss: base + "/" + t.ID + "/v2.0",
		Iat: iat, Nbf: iat, Exp: iat + int64(lifetime/time.Second),
		Azp: app.AppID, Azpacr: acr, AppID: app.AppID, AppIDAcr: acr, Idtyp: "app",
		Oid: app.ObjectID, Sub: app.ObjectID, Tid: t.ID,
		Roles: st.snap.GrantedRoles(t.ID, app.AppID, res.AppID),
		Uti:   randomToken(), Ver: "2.0",
	}
	tok, err := mint(key, &claims)
	if err != nil {
		s.log.Error("token signing failed", "tenant", t.ID, "kid", key.kid, "err", err)
		fail(newError(http.StatusInternalServerError, "server_error", CodeNoSigningKey, "The token could not be signed; retry later."))
		return
	}
	secs := strconv.FormatInt(int64(lifetime/time.Second), 10)
	out := make([]byte, 0, len(tok)+96)
	out = append(out, `{"token_type":"Bearer","expires_in":`...)
	out = append(out, secs...)
	out = append(out, `,"ext_expires_in":`...)
	out = append(out, secs...)
	out = append(out, `,"access_token":"`...)
	out = append(out, tok...)
	out = append(out, `"}`...)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	w.Write(out)
	s.metrics.success(method, start)
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "issued access token",
			slog.String("tenant", t.ID), slog.String("client_id", app.AppID), slog.String("resource", res.AppID),
			slog.String("method", method), slog.String("kid", key.kid), slog.String("uti", claims.Uti))
	}
}

// mint encodes and signs an access token with key: the precomputed header,
// the JSON claims, and an RS256 signature over both.
func mint(key *signingKey, c *accessTokenClaims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(key.header)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(key.priv.Size()))
	buf = append(buf, key.header...)
	buf = enc.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	sig, err := rsa.SignPKCS1v15(nil, key.priv, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// verifySecret authenticates a client by secret, in constant time per
// registered secret, and tells a user who sent the secret's id instead of
// its value so.
func (s *Server) verifySecret(now time.Time, app *directory.Application, text string) *Error {
	for i := range app.PasswordCredentials {
		pc := &app.PasswordCredentials[i]
		if !directory.SecretMatches(pc.Hash, text) {
			continue
		}
		if !pc.ExpiresAt.IsZero() && now.After(pc.ExpiresAt) {
			return invalidClient(CodeSecretExpired,
				"The provided client secret keys for app '%s' are expired. The secret '%s…' (id %s) expired on %s. "+
					"Create a new client secret for the application, or consider using certificate credentials.",
				app.AppID, pc.Hint, pc.ID, pc.ExpiresAt.UTC().Format(time.RFC3339))
		}
		if !pc.StartAt.IsZero() && now.Before(pc.StartAt) {
			return invalidClient(CodeInvalidSecret,
				"Invalid client secret provided. The secret '%s…' (id %s) of app '%s' is not valid before %s.",
				pc.Hint, pc.ID, app.AppID, pc.StartAt.UTC().Format(time.RFC3339))
		}
		return nil
	}
	for i := range app.PasswordCredentials {
		pc := &app.PasswordCredentials[i]
		if strings.EqualFold(strings.TrimSpace(text), pc.ID) {
			// No hint here: the caller has shown only the id, and the hint is
			// the first characters of the secret.
			return invalidClient(CodeInvalidSecret,
				"Invalid client secret provided. The value sent is the ID of the client secret %s, not the secret's value. "+
					"Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.",
				pc.ID, app.AppID)
		}
	}
	if len(app.PasswordCredentials) == 0 {
		return invalidClient(CodeInvalidSecret,
			"Invalid client secret provided. App '%s' has no client secrets; add one, or authenticate with a certificate.", app.AppID)
	}
	return invalidClient(CodeInvalidSecret,
		"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, "+
			"for a secret added to app '%s'.", app.AppID)
}

// resourceFromScope extracts the resource from a client-credentials scope:
// exactly one "{resource}/.default", OIDC scopes ignored.
func resourceFromScope(scope string) (string, *Error) {
	var rest []string
	for _, f := range strings.Fields(scope) {
		if isOIDCScope(f) {
			continue
		}
		rest = append(rest, f)
	}
	const suffix = "/.default"
	switch {
	case len(rest) == 0:
		return "", newError(http.StatusBadRequest, "invalid_scope", CodeScopeNotDefault,
			"Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI), "+
				"e.g. 'api://<resource>/.default'; the request only has '%s'.", clip(scope, 200))
	case len(rest) > 1:
		return "", newError(http.StatusBadRequest, "invalid_scope", CodeInvalidScope,
			"The provided value for the input parameter 'scope' is not valid. Request a token for one resource at a time with exactly one "+
				"scope of the form 'api://<resource>/.default'; got %s.", quoteList(rest, 5))
	}
	sc := rest[0]
	if len(sc) <= len(suffix) || !strings.EqualFold(sc[len(sc)-len(suffix):], suffix) {
		// Suggest the resource's .default: "api://x/Read" → "api://x/.default",
		// "api://x" or an app id → append it.
		example := strings.TrimSuffix(sc, "/") + suffix
		_, rest, hasScheme := strings.Cut(sc, "://")
		if i := strings.LastIndexByte(rest, '/'); hasScheme && i > 0 && i < len(rest)-1 {
			example = sc[:len(sc)-len(rest)+i] + suffix
		}
		code := CodeScopeNotDefault
		if strings.EqualFold(sc, suffix) || strings.EqualFold(sc, suffix[1:]) {
			code = CodeInvalidScope
			example = "api://<resource>/.default"
		}
		return "", newError(http.StatusBadRequest, "invalid_scope", code,
			"The provided value for the input parameter 'scope' is not valid. The scope '%s' is not valid: client credential flows must have "+
				"a scope value with /.default suffixed to the resource identifier (application ID URI), e.g. '%s'.", clip(sc, 200), clip(example, 200))
	}
	return sc[:len(sc)-len(suffix)], nil
}

func isOIDCScope(s string) bool {
	for _, o := range oidcScopes {
		if strings.EqualFold(s, o) {
			return true
		}
	}
	return false
}

func quoteList(xs []string, n int) string {
	var b strings.Builder
	for i, x := range xs {
		if i == n {
			b.WriteString(", …")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("'" + clip(x, 100) + "'")
	}
	return b.String()
}

// throttled is the 429 answer to a client id or address that failed
// authentication too often.
func throttled(wait time.Duration, who string) *Error {
	e := newError(http.StatusTooManyRequests, "temporarily_unavailable", CodeTooManyFailedAttempts,
		"Too many failed client authentication attempts %s. Retry after %d seconds, and check the credential before retrying.",
		who, int(math.Ceil(wait.Seconds()))) // as Retry-After
	e.RetryAfter = wait
	return e
}

// sourceAddress is the TCP peer's IP address.
func sourceAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
