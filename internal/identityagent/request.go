package identityagent

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// APIVersion is the App Service managed-identity API version azidentity
// (through MSAL Go's apps/managedidentity) sends.
const APIVersion = "2019-08-01"

// maxResourceLength bounds the resource parameter; identifier URIs are far
// shorter.
const maxResourceLength = 1024

// maxQueryLength bounds the raw query string of a token request.
const maxQueryLength = 4096

// tokenRequest is a parsed managed-identity token request.
type tokenRequest struct {
	Resource string // the audience, e.g. api://orders or https://vault.example.com
	ClientID string // client_id: a user-assigned identity by client id
	Name     string // mi_res_id: a user-assigned identity by name (or a resource id ending in it)
}

// requestError is a caller mistake, answered 400 invalid_request.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) *requestError {
	return &requestError{msg: fmt.Sprintf(format, args...)}
}

// parseTokenRequest reads the query of an App Service token request
// (MSAL Go managedidentity.createAppServiceAuthRequest): api-version,
// resource and at most one of client_id, mi_res_id, object_id,
// principal_id. Each parameter must appear once.
func parseTokenRequest(rawQuery string) (tokenRequest, *requestError) {
	if len(rawQuery) > maxQueryLength {
		return tokenRequest{}, badRequest("the query string is longer than %d bytes", maxQueryLength)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return tokenRequest{}, badRequest("the query string is malformed: %s", printable(err.Error(), 100))
	}
	for k, v := range q {
		if len(v) > 1 {
			return tokenRequest{}, badRequest("the query parameter %q appears %d times; give it once", printable(k, 40), len(v))
		}
	}
	switch v := q.Get("api-version"); v {
	case APIVersion:
	case "":
		return tokenRequest{}, badRequest("the query parameter api-version is missing; this endpoint speaks api-version=%s (the App Service managed-identity protocol)", APIVersion)
	default:
		return tokenRequest{}, badRequest("api-version %q is not supported; this endpoint speaks api-version=%s (the App Service managed-identity protocol)", printable(v, 40), APIVersion)
	}
	var r tokenRequest
	r.Resource = q.Get("resource")
	switch {
	case r.Resource == "":
		return tokenRequest{}, badRequest("the query parameter resource is missing: name the API the token is for, e.g. resource=api://orders")
	case len(r.Resource) > maxResourceLength:
		return tokenRequest{}, badRequest("the resource is longer than %d bytes", maxResourceLength)
	case strings.IndexFunc(r.Resource, notResourceRune) >= 0:
		// A space would smuggle a second scope into the token request.
		return tokenRequest{}, badRequest("the resource %q contains white space or control characters; give one identifier URI or application id", printable(r.Resource, 100))
	}
	selectors := 0
	for _, k := range []string{"client_id", "mi_res_id", "object_id", "principal_id", "msi_res_id"} {
		if q.Has(k) {
			selectors++
		}
	}
	if selectors > 1 {
		return tokenRequest{}, badRequest("give at most one of client_id, mi_res_id and object_id to select a user-assigned identity")
	}
	switch {
	case q.Has("client_id"):
		r.ClientID = q.Get("client_id")
		if !guidPattern.MatchString(r.ClientID) {
			return tokenRequest{}, badRequest("client_id %q is not an application (client) id (a GUID)", printable(r.ClientID, 100))
		}
		r.ClientID = strings.ToLower(r.ClientID)
	case q.Has("mi_res_id") || q.Has("msi_res_id"):
		v := q.Get("mi_res_id")
		if !q.Has("mi_res_id") {
			v = q.Get("msi_res_id")
		}
		// An Azure resource id of a user-assigned identity ends in its name:
		// /subscriptions/…/userAssignedIdentities/NAME.
		name := v[strings.LastIndexByte(v, '/')+1:]
		if !namePattern.MatchString(name) {
			return tokenRequest{}, badRequest("mi_res_id %q does not end in an identity name (letters, digits, '-', '_', '.')", printable(v, 100))
		}
		r.Name = name
	case q.Has("object_id") || q.Has("principal_id"):
		return tokenRequest{}, badRequest("this identity agent selects user-assigned identities by client_id (or by name with mi_res_id), not by object id: use azidentity.ClientID(APPID)")
	}
	return r, nil
}

func notResourceRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
}

// printable clips s to n bytes and drops control characters, for echoing
// caller input in an error description.
func printable(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, s)
}
