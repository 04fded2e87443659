package admin

import (
	"strings"
	"testing"
)

func TestRequest_BodiesAreCheckedBeforeUse(t *testing.T) {
	e := newEnv(t)
	big := `{"displayName":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	const apps = "/admin/v1/tenants/default/applications"
	cases := []struct {
		name   string
		req    request
		status int
		code   string
		parts  []string
	}{
		{"unknown field", request{body: `{"displayName":"x","displayname":"y"}`}, 400, "BadRequest", []string{`unknown field "displayname"`, `"displayName"`}},
		{"oversize body", request{body: big}, 413, "PayloadTooLarge", []string{"1 MiB"}},
		{"wrong content type", request{body: `{"displayName":"x"}`, contentType: "text/plain"}, 415, "UnsupportedMediaType", []string{"application/json"}},
		{"missing content type", request{body: `{"displayName":"x"}`, contentType: "-"}, 415, "UnsupportedMediaType", []string{"Content-Type"}},
		{"latin-1 charset", request{body: `{"displayName":"x"}`, contentType: "application/json; charset=iso-8859-1"}, 415, "UnsupportedMediaType", []string{"UTF-8"}},
		{"empty body", request{body: ""}, 400, "BadRequest", []string{"request body is required"}},
		{"malformed JSON", request{body: `{"displayName":`}, 400, "BadRequest", []string{"not valid JSON"}},
		{"syntax error", request{body: `{"displayName" "x"}`}, 400, "BadRequest", []string{"not valid JSON"}},
		{"trailing data", request{body: `{"displayName":"x"} {}`}, 400, "BadRequest", []string{"exactly one JSON object"}},
		{"array instead of object", request{body: `[1]`}, 400, "BadRequest", []string{"must be a JSON object"}},
		{"wrong field type", request{body: `{"displayName":5}`}, 400, "BadRequest", []string{`"displayName" must be a string`}},
		{"lifetime as string", request{body: `{"displayName":"x","accessTokenLifetimeSeconds":"600"}`}, 400, "BadRequest", []string{`"accessTokenLifetimeSeconds" must be an integer`}},
		{"duplicated field", request{body: `{"displayName":"x","displayName":"y"}`}, 400, "BadRequest", []string{`field "displayName" appears twice`}},
		{"Latin-1 text", request{body: "{\"displayName\":\"caf\xe9\"}"}, 400, "BadRequest", []string{"not valid UTF-8 (byte 19 is 0xE9)"}},
		{"invalid UTF-8 in a key", request{body: "{\"display\xffName\":\"x\"}"}, 400, "BadRequest", []string{"not valid UTF-8 (byte 9 is 0xFF)"}},
		{"byte order mark", request{body: "\xef\xbb\xbf{\"displayName\":\"x\"}"}, 400, "BadRequest", []string{"byte order mark"}},
		{"lone high surrogate", request{body: `{"displayName":"a\ud83d"}`}, 400, "BadRequest", []string{"byte 17", "surrogate pair"}},
		{"lone low surrogate", request{body: `{"displayName":"a\\\ude00"}`}, 400, "BadRequest", []string{"byte 19", "surrogate"}},
		{"high surrogate then a letter", request{body: `{"displayName":"\ud83d\u0041"}`}, 400, "BadRequest", []string{"byte 16", "surrogate"}},
		{"duplicated field in a list", request{body: `{"displayName":"x","identifierUris":["api://a"],"identifierUris":["api://b"]}`}, 400, "BadRequest", []string{`field "identifierUris" appears twice`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.method, c.req.path = "POST", apps
			wantError(t, e.send(c.req), c.status, c.code, c.parts...)
		})
	}
	if n := e.changed.Load(); n != 0 {
		t.Errorf("Changed called %d times for refused writes", n)
	}
}

func TestRequest_UnknownPathsAndMethodsGetJSONErrors(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, method, path string
		status             int
		code, allow        string
	}{
		{"unknown path", "GET", "/admin/v1/nothing", 404, "NotFound", ""},
		{"unknown sub-resource", "GET", "/admin/v1/tenants/default/applications/x/nothing", 404, "NotFound", ""},
		{"wrong method on collection", "PUT", "/admin/v1/tenants", 405, "MethodNotAllowed", "GET, POST"},
		{"wrong method on application", "POST", "/admin/v1/tenants/default/applications/x", 405, "MethodNotAllowed", "GET, PATCH, DELETE"},
		{"wrong method on rotate", "GET", "/admin/v1/tenants/default/signingKeys/rotate", 405, "MethodNotAllowed", "POST"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, nil)
			wantError(t, r, c.status, c.code)
			if got := r.header.Get("Allow"); got != c.allow {
				t.Errorf("Allow %q, want %q", got, c.allow)
			}
		})
	}
}

// TestRequest_EchoedReferencesAreClipped: a reference that names nothing is
// quoted in the error message only in part, so a large body does not come
// back amplified.
func TestRequest_EchoedReferencesAreClipped(t *testing.T) {
	e := newEnv(t)
	e.createApp("orders")
	long := strings.Repeat("\xff", 100000)
	cases := []struct {
		name, path string
		body       map[string]any
		status     int
	}{
		{"unknown client", "/admin/v1/tenants/default/grants", map[string]any{"client": long, "resource": "orders", "role": "x"}, 404},
		{"unknown role", "/admin/v1/tenants/default/grants", map[string]any{"client": "orders", "resource": "orders", "role": long}, 404},
	}
	e.createRole("orders", "Orders.Read")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", c.path, c.body)
			wantError(t, r, c.status, "NotFound")
			if len(r.body) > 2048 {
				t.Errorf("error response is %d bytes; the reference is not clipped", len(r.body))
			}
		})
	}
}
