package sts

import (
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/directory"
)

// Authorization is what an authenticated client may receive: the resource
// application its scope names and the app roles granted to it there. Both
// point into the directory snapshot: read only.
type Authorization struct {
	Resource *directory.Application
	Roles    []string // sorted; nil when none is granted
}

// authorize is the phase after client authentication: the resource from
// the client-credentials scope ("{resource}/.default", by identifier URI
// or appId), then the client's grants on it as role values. A client
// without grants still gets a token (Entra's behaviour): the resource
// decides what an empty roles claim allows.
func (s *Server) authorize(st *state, client *AuthenticatedClient, scope string) (Authorization, *Error) {
	resource, e := resourceFromScope(scope)
	if e != nil {
		return Authorization{}, e
	}
	t := client.Tenant
	res, ok := st.snap.Resource(t.ID, resource)
	if !ok && strings.HasSuffix(resource, "/") {
		res, ok = st.snap.Resource(t.ID, strings.TrimSuffix(resource, "/"))
	}
	if !ok {
		return Authorization{}, newError(http.StatusBadRequest, "invalid_resource", CodeUnknownResource,
			"The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been "+
				"registered in the tenant, or the scope names it by a wrong identifier URI or application id. "+
				"You might have sent your authentication request to the wrong tenant.", clip(resource, 200), t.Name)
	}
	if res.RequireCertificateBoundTokens && client.CertificateS256 == "" {
		return Authorization{}, certificateRequired(client, res)
	}
	return Authorization{Resource: res, Roles: st.snap.GrantedRoles(t.ID, client.Application.AppID, res.AppID)}, nil
}

// certificateRequired refuses a token for a resource that takes only
// certificate-bound tokens to a client that authenticated otherwise: the
// token could not be bound. 400 unauthorized_client: the client did
// authenticate, but may not get this token with that credential (so it
// does not count as a failed authentication).
func certificateRequired(client *AuthenticatedClient, res *directory.Application) *Error {
	how := "a client secret"
	if client.Method == MethodPrivateKeyJWT {
		how = "a federated token (workload identity federation)"
	}
	return newError(http.StatusBadRequest, "unauthorized_client", CodeCertificateRequired,
		"The resource '%s' (%s) accepts only certificate-bound access tokens (RFC 8705), and application '%s' authenticated with %s. "+
			"Use a certificate credential: register a certificate on the application and authenticate with a client_assertion signed by it "+
			"(MSAL: confidential.NewCredFromCert); the token is then bound to that certificate, and the API must be called over TLS with it.",
		res.DisplayName, res.AppID, client.Application.AppID, how)
}

// resourceFromScope extracts the resource from a client-credentials scope:
// exactly one "{resource}/.default", OIDC scopes ignored.
func resourceFromScope(scope string) (string, *Error) {
	// The usual single scope is found without building a list of fields
	// (this runs on every token request); a list only for the error.
	var (
		sc   string
		n    int
		rest []string
	)
	for f := range strings.FieldsSeq(scope) {
		if isOIDCScope(f) {
			continue
		}
		n++
		switch n {
		case 1:
			sc = f
		case 2:
			rest = append(rest, sc, f)
		default:
			rest = append(rest, f)
		}
	}
	const suffix = "/.default"
	switch {
	case n == 0:
		return "", newError(http.StatusBadRequest, "invalid_scope", CodeScopeNotDefault,
			"Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI), "+
				"e.g. 'api://<resource>/.default'; the request only has '%s'.", clip(scope, 200))
	case n > 1:
		return "", newError(http.StatusBadRequest, "invalid_scope", CodeInvalidScope,
			"The provided value for the input parameter 'scope' is not valid. Request a token for one resource at a time with exactly one "+
				"scope of the form 'api://<resource>/.default'; got %s.", quoteList(rest, 5))
	}
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

// oidcScopes are sent by MSAL with every request and ignored for the
// client-credentials grant (msal-protocol.md §1.5).
var oidcScopes = [...]string{"openid", "offline_access", "profile", "email"}
