package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// adminCanary prefixes fuzzed bearer credentials; no response may carry it.
const adminCanary = "adm1nC4n4ry"

// FuzzAdminFrontDoor sends arbitrary requests to the admin API (in
// process): the Authorization header (absent, junk, each test token, two
// of them, other schemes), request-id headers, paths with %-escapes and dot
// segments, bodies. The API must never panic or answer a client's request
// with a 5xx, never echo the credential, and always answer an error in the
// contract's shape.
func FuzzAdminFrontDoor(f *testing.F) {
	e := newEnv(f)
	tokens := []string{tokAdmin, tokNoRole, tokWrongAud, tokOtherTenant}
	for _, s := range []struct {
		method, path string
		auth         uint8
		cred, rid    string
		body         string
	}{
		{"GET", "/admin/v1/tenants", 2, "", "", ""},
		{"GET", "/admin/v1/tenants/default/applications", 2, "", "r-1", ""},
		{"POST", "/admin/v1/tenants", 2, "", "", `{"name":"fuzz"}`},
		{"GET", "/admin/v1/tenants/%2e%2e/applications", 2, "", "", ""},
		{"GET", "/admin/v1/tenants/default/../other", 2, "", "", ""},
		{"DELETE", "/admin/v1/tenants/default/applications/x/appRoles/..", 2, "", "", ""},
		{"GET", "/admin/v1/openapi.json", 0, "", "", ""},
		{"GET", "/admin/v1/tenants", 1, "eyJhbGciOiJub25lIn0.e30.", "", ""},
		{"GET", "/admin/v1/tenants", 3, "Basic Zm9vOmJhcg==", "", ""},
		{"GET", "/admin/v1/tenants", 4, "", "", ""},
		{"PATCH", "/admin/v1/tenants/default", 2, "", "", `{"name":null}`},
		{"GET", "/admin/v1/nope", 2, "", "", ""},
		{"FOO", "/admin/v1/tenants", 2, "", "", ""},
		{"DELETE", "/admin/v1/tenants/default", 2, "", "", ""},
		{"DELETE", "/admin/v1/tenants/%2e%2e", 2, "", "", ""},
		{"DELETE", "/admin/v1/tenants/fuzz", 2, "", "", ""},
	} {
		f.Add(s.method, s.path, s.auth, s.cred, s.rid, s.body)
	}
	f.Fuzz(func(t *testing.T, method, path string, auth uint8, cred, rid, body string) {
		if !isToken(method) {
			method = http.MethodGet
		}
		if !strings.HasPrefix(path, "/") {
			path = "/admin/v1/" + path
		}
		u, err := url.ParseRequestURI(path)
		if err != nil || strings.ContainsAny(path, " \r\n\t\x00#") {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "http://localhost/", strings.NewReader(body))
		req.Method, req.URL, req.RequestURI = method, u, path
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if rid != "" && isHeaderValue(rid) {
			req.Header.Set("X-Request-Id", rid)
			req.Header.Set("x-ms-client-request-id", rid)
		}
		echoable := []string{}
		if !strings.Contains(path+rid+body, adminCanary) {
			echoable = append(echoable, adminCanary)
		}
		switch auth % 5 {
		case 1:
			if !isHeaderValue(cred) {
				return
			}
			req.Header.Set("Authorization", "Bearer "+adminCanary+cred)
		case 2:
			req.Header.Set("Authorization", "Bearer "+tokens[len(cred)%len(tokens)])
		case 3:
			if !isHeaderValue(cred) {
				return
			}
			req.Header.Set("Authorization", cred)
		case 4:
			req.Header.Add("Authorization", "Bearer "+tokAdmin)
			req.Header.Add("Authorization", "Bearer "+adminCanary)
		}
		rec := httptest.NewRecorder()
		e.mux.ServeHTTP(rec, req)
		b := rec.Body.Bytes()
		// 503 is the designed answer of the components this env lacks.
		off := strings.Contains(string(b), "without the vault") || strings.Contains(string(b), "gateway is off")
		if rec.Code >= 500 && !(rec.Code == http.StatusServiceUnavailable && off) {
			t.Fatalf("%s %s: status %d: %.500s", method, path, rec.Code, b)
		}
		for _, secret := range echoable {
			if strings.Contains(string(b), secret) {
				t.Fatalf("%s %s: the credential is echoed in the body: %.500s", method, path, b)
			}
			for name, vs := range rec.Header() {
				for _, v := range vs {
					if strings.Contains(v, secret) {
						t.Fatalf("%s %s: the credential is echoed in header %s", method, path, name)
					}
				}
			}
		}
		if rec.Code >= 400 && strings.HasPrefix(u.Path, basePath+"/") {
			var er errorResponse
			if err := json.Unmarshal(b, &er); err != nil || er.Error.Code == "" || er.Error.Message == "" {
				t.Fatalf("%s %s: status %d with a body that is not the error shape: %.500s", method, path, rec.Code, b)
			}
		}
	})
}

// isToken reports whether m is a non-empty RFC 9110 token, as a method must be.
func isToken(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range []byte(m) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// isHeaderValue reports whether net/http sends v unchanged as a header value.
func isHeaderValue(v string) bool {
	for _, c := range []byte(v) {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return strings.TrimSpace(v) == v
}
