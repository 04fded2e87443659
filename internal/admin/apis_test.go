package admin

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/directory"
)

// apiBody is a valid API body for the default tenant.
func apiBody(name, prefix string) map[string]any {
	return map[string]any{
		"name":    name,
		"match":   map[string]any{"hosts": []string{"API.example.com"}, "pathPrefix": prefix, "methods": []string{"GET"}},
		"backend": map[string]any{"urls": []string{"http://127.0.0.1:9000"}, "timeouts": map[string]any{"connectSeconds": 2}},
		"policy": map[string]any{
			"methods": []any{map[string]any{"type": "bearer", "issuers": []any{map[string]any{"tenant": "default"}}, "audiences": []string{"api://orders"}}},
			"rules":   map[string]any{"roles": []string{"Orders.Read"}},
		},
	}
}

const apisPath = "/admin/v1/tenants/default/apis"

func TestAPIs_CreateGetListReplaceDelete(t *testing.T) {
	e := newEnv(t)
	r := e.must(http.StatusCreated, "POST", apisPath, apiBody("orders", "/orders"))
	created := strictDecode[directory.API](t, r.body)
	if loc := r.header.Get("Location"); loc != apisPath+"/orders" {
		t.Errorf("Location %q", loc)
	}
	if created.TenantID != e.tenant.ID || created.Revision == 0 || !created.CreatedAt.Equal(testNow) || created.Match.Hosts[0] != "api.example.com" {
		t.Errorf("created %+v", created)
	}
	if got := created.Policy.Methods[0].Issuers[0].Tenant; got != e.tenant.ID {
		t.Errorf("bearer tenant stored as %q, want the id", got)
	}
	if r.header.Get("ETag") != strconv.Quote(strconv.FormatInt(created.Revision, 10)) {
		t.Errorf("ETag %q for revision %d", r.header.Get("ETag"), created.Revision)
	}
	if e.changed.Load() != 1 {
		t.Errorf("Changed called %d times", e.changed.Load())
	}

	got := e.must(http.StatusOK, "GET", apisPath+"/orders", nil)
	if string(got.body) != string(r.body) {
		t.Errorf("GET = %s\nPOST = %s", got.body, r.body)
	}
	e.must(http.StatusCreated, "POST", "/admin/v1/tenants/"+e.tenant.ID+"/apis", apiBody("billing", "/billing"))
	list := strictDecode[struct{ Value []directory.API }](t, e.must(http.StatusOK, "GET", apisPath, nil).body)
	if len(list.Value) != 2 || list.Value[0].Name != "billing" || list.Value[1].Name != "orders" {
		t.Errorf("list %+v", list.Value)
	}
	if l := strictDecode[struct{ Value []directory.API }](t, e.must(http.StatusOK, "GET", "/admin/v1/tenants/other/apis", nil).body); l.Value == nil || len(l.Value) != 0 {
		t.Errorf("list of a tenant without APIs = %s, want []", e.do("GET", "/admin/v1/tenants/other/apis", nil).body)
	}

	// A GET body, edited, goes back as is: the read-only fields are ignored.
	var doc map[string]any
	if err := json.Unmarshal(got.body, &doc); err != nil {
		t.Fatal(err)
	}
	doc["description"] = "v2"
	doc["createdAt"] = "not even a time"
	stale := created.Revision
	put := func(ifMatch string) response {
		h := http.Header{}
		if ifMatch != "" {
			h.Set("If-Match", ifMatch)
		}
		return e.send(request{method: "PUT", path: apisPath + "/orders", body: doc, header: h})
	}
	r = put(strconv.Quote(strconv.FormatInt(stale, 10)))
	updated := strictDecode[directory.API](t, expect(t, r, http.StatusOK))
	if updated.Description != "v2" || updated.Revision <= stale || !updated.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("updated %+v", updated)
	}
	wantError(t, put(strconv.Quote(strconv.FormatInt(stale, 10))), http.StatusPreconditionFailed, "PreconditionFailed", "revision", "read it again")
	wantError(t, put("42"), http.StatusBadRequest, "BadRequest", "If-Match", `"42"`)
	expect(t, put("*"), http.StatusOK)
	expect(t, put(""), http.StatusOK)

	doc["name"] = "renamed"
	wantError(t, put(""), http.StatusBadRequest, "BadRequest", "cannot be renamed")
	wantError(t, e.send(request{method: "PUT", path: apisPath + "/nope", body: apiBody("nope", "/nope")}), http.StatusNotFound, "NotFound", `"nope"`)

	e.must(http.StatusNoContent, "DELETE", apisPath+"/orders", nil)
	wantError(t, e.do("GET", apisPath+"/orders", nil), http.StatusNotFound, "NotFound", `no API named "orders"`)
	wantError(t, e.do("DELETE", apisPath+"/orders", nil), http.StatusNotFound, "NotFound", `"orders"`)
}

func TestAPIs_RefusalsSayWhatAndWhere(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, "POST", apisPath, apiBody("orders", "/orders"))
	with := func(name string, edit func(b map[string]any)) map[string]any {
		b := apiBody(name, "/"+name)
		edit(b)
		return b
	}
	cases := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
		parts  []string
	}{
		{"no body", apisPath, nil, 400, "BadRequest", []string{"request body is required", `"name"`}},
		{"not an object", apisPath, "[1]", 400, "BadRequest", []string{"JSON object"}},
		{"trailing data", apisPath, `{"name":"a"} {}`, 400, "BadRequest", []string{"exactly one JSON object"}},
		{"duplicated name", apisPath, `{"name":"a","name":"b","match":{"pathPrefix":"/a"},"backend":{"urls":["http://127.0.0.1:1"]},"policy":{"anonymous":true}}`, 400, "BadRequest", []string{`field "name" appears twice`}},
		{"duplicated nested field", apisPath, `{"name":"a","match":{"pathPrefix":"/a","pathPrefix":"/b"},"backend":{"urls":["http://127.0.0.1:1"]},"policy":{"anonymous":true}}`, 400, "BadRequest", []string{`field "match.pathPrefix" appears twice`}},
		{"duplicated field in a list", apisPath, `{"name":"a","match":{"pathPrefix":"/a"},"backend":{"urls":["http://127.0.0.1:1"]},"policy":{"methods":[{"type":"basic"},{"type":"apiKey","type":"bearer"}]}}`, 400, "BadRequest", []string{`field "policy.methods[1].type" appears twice`}},
		{"unknown top-level field", apisPath, with("a", func(b map[string]any) { b["hostz"] = 1 }), 400, "BadRequest", []string{`unknown field "hostz"`, `"match"`}},
		{"unknown nested field", apisPath, with("a", func(b map[string]any) { b["match"].(map[string]any)["PathPrefix"] = "/x" }), 400, "BadRequest", []string{`unknown field "match.PathPrefix"`, `"pathPrefix"`}},
		{"unknown field in a list", apisPath, with("a", func(b map[string]any) {
			b["policy"].(map[string]any)["methods"].([]any)[0].(map[string]any)["secret"] = "x"
		}), 400, "BadRequest", []string{`unknown field "policy.methods[0].secret"`}},
		{"wrong type", apisPath, with("a", func(b map[string]any) { b["backend"].(map[string]any)["urls"] = "http://x" }), 400, "BadRequest", []string{"backend.urls", "an array"}},
		{"wrong type in a map", apisPath, with("a", func(b map[string]any) { b["principalHeaders"] = map[string]any{"X-Caller": 1} }), 400, "BadRequest", []string{`field "principalHeaders" must be an object whose values are each a string; one is a JSON number`}},
		{"invalid field", apisPath, with("a", func(b map[string]any) { b["match"].(map[string]any)["pathPrefix"] = "x" }), 400, "BadRequest", []string{"match.pathPrefix"}},
		{"literal password", apisPath, with("a", func(b map[string]any) {
			b["policy"] = map[string]any{"methods": []any{map[string]any{"type": "basic", "users": []any{map[string]any{"name": "u", "password": "hunter2"}}}}}
		}), 400, "BadRequest", []string{"policy.methods[0].users[0].password", "vault://"}},
		{"password in a backend URL", apisPath, with("a", func(b map[string]any) {
			b["backend"].(map[string]any)["urls"] = []any{"ftp://u:hunter2@h"}
		}), 400, "BadRequest", []string{"backend.urls[0]", "user information"}},
		{"password in an issuer URL", apisPath, with("a", func(b map[string]any) {
			b["policy"] = map[string]any{"methods": []any{map[string]any{"type": "bearer", "audiences": []any{"api://a"}, "issuers": []any{map[string]any{"issuer": "http://u:hunter2@idp.example.com"}}}}}
		}), 400, "BadRequest", []string{"issuers[0].issuer"}},
		{"revocation without trusted CAs", apisPath, with("a", func(b map[string]any) {
			b["policy"] = map[string]any{"methods": []any{map[string]any{"type": "clientCertificate", "pins": []any{map[string]any{"thumbprint": strings.Repeat("ab", 32)}},
				"revocation": map[string]any{"ocsp": "hard"}}}}
		}), 400, "BadRequest", []string{"policy.methods[0].revocation needs trustedCAs"}},
		{"revocation CRL that is not a source", apisPath, with("a", func(b map[string]any) {
			b["policy"] = map[string]any{"methods": []any{map[string]any{"type": "clientCertificate", "trustedCAs": []any{"vault://kv1/certificates/ca"},
				"revocation": map[string]any{"crls": []any{"crl.example.com/ca.crl"}}}}}
		}), 400, "BadRequest", []string{"policy.methods[0].revocation.crls[0]", "http(s) URL"}},
		{"revocation unknown field", apisPath, with("a", func(b map[string]any) {
			b["policy"] = map[string]any{"methods": []any{map[string]any{"type": "clientCertificate", "trustedCAs": []any{"vault://kv1/certificates/ca"},
				"revocation": map[string]any{"ocspMode": "hard"}}}}
		}), 400, "BadRequest", []string{`unknown field "policy.methods[0].revocation.ocspMode"`}},
		{"decision id as principal header", apisPath, with("a", func(b map[string]any) {
			b["principalHeaders"] = map[string]any{"X-Portcullis-Decision-Id": "subject"}
		}), 400, "BadRequest", []string{"principalHeaders.X-Portcullis-Decision-Id", "decision id"}},
		{"duplicate name", apisPath, apiBody("orders", "/other"), 409, "Conflict", []string{`"orders"`, "already"}},
		{"same match", apisPath, apiBody("copy", "/orders"), 409, "Conflict", []string{`API "orders" of tenant default`}},
		{"unknown tenant", "/admin/v1/tenants/nope/apis", apiBody("a", "/a"), 404, "NotFound", []string{"nope"}},
		{"unknown bearer tenant", apisPath, with("a", func(b map[string]any) {
			b["policy"].(map[string]any)["methods"].([]any)[0].(map[string]any)["issuers"] = []any{map[string]any{"tenant": "fabrikam"}}
		}), 404, "NotFound", []string{"issuers[0].tenant", "fabrikam"}},
		{"text body", apisPath, request{}, 415, "UnsupportedMediaType", nil},
	}
	// A secret the request holds, which the answer must not echo.
	never := map[string]string{"literal password": "hunter2", "password in a backend URL": "hunter2", "password in an issuer URL": "hunter2"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := request{method: "POST", path: tc.path, body: tc.body}
			if _, ok := tc.body.(request); ok {
				req = request{method: "POST", path: tc.path, body: "name=a", contentType: "text/plain"}
			}
			r := e.send(req)
			wantError(t, r, tc.status, tc.code, tc.parts...)
			if secret := never[tc.name]; secret != "" && strings.Contains(string(r.body), secret) {
				t.Errorf("the answer echoes %q: %s", secret, r.body)
			}
		})
	}
	if n := e.changed.Load(); n != 1 {
		t.Errorf("Changed called %d times; refusals must not notify", n)
	}
}

func TestAPIs_MethodNotAllowedListsPUT(t *testing.T) {
	e := newEnv(t)
	r := e.do("PATCH", apisPath+"/orders", map[string]any{})
	wantError(t, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "PUT")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "PUT") || !strings.Contains(allow, "DELETE") {
		t.Errorf("Allow %q", allow)
	}
}

func TestAPIs_OpenAPISchemaHasEveryField(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	for schema, v := range map[string]any{
		"API": directory.API{}, "APIMatch": directory.APIMatch{}, "Backend": directory.Backend{},
		"BackendTLS": directory.BackendTLS{}, "Timeouts": directory.Timeouts{},
	} {
		var documented []string
		for k := range doc.Components.Schemas[schema].Properties {
			documented = append(documented, k)
		}
		slices.Sort(documented)
		fields := fieldNames(reflect.New(reflect.TypeOf(v)).Interface())
		slices.Sort(fields)
		if !slices.Equal(documented, fields) {
			t.Errorf("schema %s documents %v; the type has %v", schema, documented, fields)
		}
	}
}
