package admin

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/connector"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
	"github.com/portcullis/portcullis/internal/sts"
	"github.com/portcullis/portcullis/internal/vault"
)

// connectorBody is a valid connector body whose password is the default
// vault's secret hr-password.
func connectorBody(name string) map[string]any {
	return map[string]any{
		"name":     name,
		"endpoint": "https://hr.example.com/enrich",
		"authentication": map[string]any{
			"type": "basic", "username": "portcullis", "password": "vault://default/secrets/hr-password",
		},
		"inputClaims":  []any{map[string]any{"claimType": "appid", "partnerClaimType": "clientId"}},
		"outputClaims": []any{map[string]any{"claimType": "department"}},
	}
}

const connectorsPath = "/admin/v1/tenants/default/connectors"

func (e *vaultEnv) setSecret(name string) {
	e.t.Helper()
	admin := vault.Caller{Admin: true}
	if _, err := e.svc.SetSecret(context.Background(), admin, "default", name, vault.SecretInput{Value: vault.NewStringValue("hunter2")}); err != nil {
		e.t.Fatal(err)
	}
}

func TestConnectors_CreateGetListReplaceDelete(t *testing.T) {
	e := newVaultEnv(t)
	e.setSecret("hr-password")
	e.setSecret("hr-token")
	r := e.must(http.StatusCreated, "POST", connectorsPath, connectorBody("hr"))
	created := strictDecode[directory.Connector](t, r.body)
	if loc := r.header.Get("Location"); loc != connectorsPath+"/hr" {
		t.Errorf("Location %q", loc)
	}
	if created.TenantID != e.tenant.ID || created.Revision == 0 || created.SendClaimsIn != directory.ClaimsInBody {
		t.Errorf("created %+v", created)
	}
	if r.header.Get("ETag") != strconv.Quote(strconv.FormatInt(created.Revision, 10)) {
		t.Errorf("ETag %q for revision %d", r.header.Get("ETag"), created.Revision)
	}
	got := e.must(http.StatusOK, "GET", connectorsPath+"/hr", nil)
	if string(got.body) != string(r.body) {
		t.Errorf("GET = %s\nPOST = %s", got.body, r.body)
	}
	e.must(http.StatusCreated, "POST", "/admin/v1/tenants/"+e.tenant.ID+"/connectors", connectorBody("audit"))
	list := strictDecode[struct{ Value []directory.Connector }](t, e.must(http.StatusOK, "GET", connectorsPath, nil).body)
	if len(list.Value) != 2 || list.Value[0].Name != "audit" || list.Value[1].Name != "hr" {
		t.Errorf("list %+v", list.Value)
	}

	// A GET body, edited, goes back as is; If-Match guards it.
	var doc map[string]any
	if err := json.Unmarshal(got.body, &doc); err != nil {
		t.Fatal(err)
	}
	doc["authentication"] = map[string]any{"type": "bearer", "token": "vault://default/secrets/hr-token"}
	put := func(ifMatch string) response {
		h := http.Header{}
		if ifMatch != "" {
			h.Set("If-Match", ifMatch)
		}
		return e.send(request{method: "PUT", path: connectorsPath + "/hr", body: doc, header: h})
	}
	updated := strictDecode[directory.Connector](t, expect(t, put(strconv.Quote(strconv.FormatInt(created.Revision, 10))), http.StatusOK))
	if updated.Authentication.Type != outbound.TypeBearer || updated.Revision <= created.Revision {
		t.Errorf("updated %+v", updated)
	}
	wantError(t, put(strconv.Quote(strconv.FormatInt(created.Revision, 10))), http.StatusPreconditionFailed, "PreconditionFailed", "changed since you read it")
	wantError(t, put("42"), http.StatusBadRequest, "BadRequest", "If-Match")

	e.must(http.StatusNoContent, "DELETE", connectorsPath+"/hr", nil)
	wantError(t, e.do("GET", connectorsPath+"/hr", nil), http.StatusNotFound, "NotFound", `"hr"`)
	wantError(t, e.do("DELETE", connectorsPath+"/hr", nil), http.StatusNotFound, "NotFound", `"hr"`)
}

func TestConnectors_RefusalsHaveTheirStatus(t *testing.T) {
	e := newVaultEnv(t)
	e.setSecret("hr-password")
	e.must(http.StatusCreated, "POST", connectorsPath, connectorBody("hr"))
	with := func(f func(map[string]any)) map[string]any {
		b := connectorBody("other")
		f(b)
		return b
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		status int
		want   []string
	}{
		{"unknown field", "POST", connectorsPath, with(func(b map[string]any) { b["timeout"] = 3 }), http.StatusBadRequest, []string{`"timeout"`, "timeoutSeconds"}},
		{"field in the wrong case", "POST", connectorsPath, with(func(b map[string]any) { b["Endpoint"] = "https://x" }), http.StatusBadRequest, []string{`"Endpoint"`, "case-sensitive"}},
		{"unknown nested field", "POST", connectorsPath, with(func(b map[string]any) {
			b["authentication"] = map[string]any{"type": "basic", "user": "u"}
		}), http.StatusBadRequest, []string{`"authentication.user"`}},
		{"unknown claim field", "POST", connectorsPath, with(func(b map[string]any) {
			b["inputClaims"] = []any{map[string]any{"claimtype": "a"}}
		}), http.StatusBadRequest, []string{`"inputClaims[0].claimtype"`}},
		{"wrong type", "POST", connectorsPath, with(func(b map[string]any) { b["retries"] = "two" }), http.StatusBadRequest, []string{"retries"}},
		{"not an object", "POST", connectorsPath, []any{}, http.StatusBadRequest, []string{"JSON object"}},
		{"invoke with an object claim", "POST", connectorsPath + "/hr/invoke", map[string]any{"claims": map[string]any{"appid": map[string]any{"x": 1}}}, http.StatusBadRequest, []string{`field "claims.appid" must be a string, a number, a boolean or a list of them, not an object`}},
		{"invoke with a null claim", "POST", connectorsPath + "/hr/invoke", `{"claims":{"appid":null}}`, http.StatusBadRequest, []string{`"claims.appid"`, "null"}},
		{"invoke with a nested list", "POST", connectorsPath + "/hr/invoke", `{"claims":{"roles":["a",["b"]]}}`, http.StatusBadRequest, []string{`"claims.roles"`, "a list holding objects, lists or null"}},
		{"invoke with a number out of range", "POST", connectorsPath + "/hr/invoke", `{"claims":{"appid":1e400}}`, http.StatusBadRequest, []string{`field "claims" holds the number 1e400, which is out of range`}},
		{"timeout out of range", "POST", connectorsPath, `{"name":"other","endpoint":"https://x.test/a","timeoutSeconds":1e999}`, http.StatusBadRequest, []string{`field "timeoutSeconds" holds the number 1e999, which is out of range`}},
		{"duplicated field", "POST", connectorsPath, `{"name":"other","endpoint":"https://x.test/a","endpoint":"https://y.test/b","authentication":{"type":"none"}}`, http.StatusBadRequest, []string{`field "endpoint" appears twice`}},
		{"duplicated nested field", "POST", connectorsPath, `{"name":"other","endpoint":"https://x.test/a","authentication":{"type":"none","type":"basic"}}`, http.StatusBadRequest, []string{`field "authentication.type" appears twice`}},
		{"no body", "POST", connectorsPath, nil, http.StatusBadRequest, []string{"required"}},
		{"invalid field", "POST", connectorsPath, with(func(b map[string]any) { b["retries"] = 9 }), http.StatusBadRequest, []string{`"retries"`}},
		{"literal password", "POST", connectorsPath, with(func(b map[string]any) {
			b["authentication"] = map[string]any{"type": "basic", "username": "u", "password": "hunter2"}
		}), http.StatusBadRequest, []string{`"authentication.password"`, "vault reference"}},
		{"missing secret", "POST", connectorsPath, with(func(b map[string]any) {
			b["authentication"] = map[string]any{"type": "basic", "username": "u", "password": "vault://default/secrets/nope"}
		}), http.StatusNotFound, []string{`"authentication.password"`, "vault://default/secrets/nope"}},
		{"missing vault", "POST", connectorsPath, with(func(b map[string]any) {
			b["authentication"] = map[string]any{"type": "bearer", "token": "vault://nowhere/secrets/t"}
		}), http.StatusNotFound, []string{`"authentication.token"`, "nowhere"}},
		{"name taken", "POST", connectorsPath, connectorBody("hr"), http.StatusConflict, []string{`"hr"`, "already has a connector"}},
		{"a vault of another tenant", "POST", "/admin/v1/tenants/other/connectors", connectorBody("x"), http.StatusBadRequest, []string{`"authentication.password"`, `vault "default" does not belong to this tenant`}},
		{"unknown tenant", "POST", "/admin/v1/tenants/nope/connectors", connectorBody("x"), http.StatusNotFound, []string{"nope"}},
		{"rename by PUT", "PUT", connectorsPath + "/hr", connectorBody("other"), http.StatusBadRequest, []string{"cannot be renamed"}},
		{"PUT of a missing connector", "PUT", connectorsPath + "/other", connectorBody("other"), http.StatusNotFound, []string{`"other"`}},
		{"attach an unknown app", "POST", connectorsPath, with(func(b map[string]any) {
			b["tokenIssuance"] = map[string]any{"clientApps": []string{"nope"}}
		}), http.StatusNotFound, []string{`"tokenIssuance.clientApps[0]"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.send(request{method: tc.method, path: tc.path, body: tc.body})
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			msg := decodeAs[errorResponse](t, r.body).Error.Message
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not mention %q", msg, w)
				}
			}
			if strings.Contains(string(r.body), "hunter2") {
				t.Errorf("%s quotes a password", r.body)
			}
		})
	}
}

// TestConnectors_AReferencedSecretCannotBeDeletedUntilTheConnectorIs: the
// connector's references reach the vault, which names the connector when
// it refuses; an update and a delete release them.
func TestConnectors_AReferencedSecretCannotBeDeletedUntilTheConnectorIs(t *testing.T) {
	e := newVaultEnv(t)
	ctx := context.Background()
	admin := vault.Caller{Admin: true}
	e.setSecret("hr-password")
	e.setSecret("hr-token")
	e.setSecret("api-user")
	e.must(http.StatusCreated, "POST", connectorsPath, connectorBody("hr"))

	_, err := e.svc.DeleteSecret(ctx, admin, "default", "hr-password")
	if !vault.IsKind(err, vault.KindConflict) || !strings.Contains(err.Error(), "connector/default/hr") {
		t.Fatalf("deleting a referenced secret: %v", err)
	}
	// The update moves the reference to the token.
	b := connectorBody("hr")
	b["authentication"] = map[string]any{"type": "bearer", "token": "vault://default/secrets/hr-token"}
	e.must(http.StatusOK, "PUT", connectorsPath+"/hr", b)
	if _, err := e.svc.DeleteSecret(ctx, admin, "default", "hr-password"); err != nil {
		t.Fatalf("deleting a secret the connector no longer uses: %v", err)
	}
	if _, err := e.svc.DeleteSecret(ctx, admin, "default", "hr-token"); !vault.IsKind(err, vault.KindConflict) {
		t.Fatalf("deleting the new reference: %v", err)
	}
	e.must(http.StatusNoContent, "DELETE", connectorsPath+"/hr", nil)
	if _, err := e.svc.DeleteSecret(ctx, admin, "default", "hr-token"); err != nil {
		t.Fatalf("deleting a secret after its connector: %v", err)
	}

	// A gateway API's Basic user is recorded as gateway/TENANT/API.
	api := apiBody("orders", "/orders")
	api["backend"] = map[string]any{"urls": []string{"https://orders.internal"}}
	api["policy"] = map[string]any{"methods": []any{map[string]any{"type": "basic", "users": []any{map[string]any{"name": "u", "password": "vault://default/secrets/api-user"}}}}}
	e.must(http.StatusCreated, "POST", apisPath, api)
	refs, err := e.svc.ListReferences(ctx, vault.Ref{Vault: "default", Type: vault.Secrets, Name: "api-user"})
	if err != nil || len(refs) != 1 || refs[0].Referrer != "gateway/default/orders" {
		t.Fatalf("references of the API's secret: %+v, %v", refs, err)
	}
	e.must(http.StatusNoContent, "DELETE", apisPath+"/orders", nil)
	if refs, _ := e.svc.ListReferences(ctx, vault.Ref{Vault: "default", Type: vault.Secrets, Name: "api-user"}); len(refs) != 0 {
		t.Fatalf("references after the API's delete: %+v", refs)
	}
}

// TestOpenAPI_ConnectorSchemasMatchTheGoTypes keeps the documented fields
// of the connector operations equal to the JSON of the Go types.
func TestOpenAPI_ConnectorSchemasMatchTheGoTypes(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]reflect.Type{
		"Connector":                 reflect.TypeFor[directory.Connector](),
		"ConnectorClaim":            reflect.TypeFor[directory.ConnectorClaim](),
		"ConnectorTokenIssuance":    reflect.TypeFor[directory.ConnectorTokenIssuance](),
		"OutboundCredential":        reflect.TypeFor[outbound.CredentialSpec](),
		"OutboundClientCredentials": reflect.TypeFor[outbound.ClientCredentialsSpec](),
		"OutboundTLS":               reflect.TypeFor[outbound.TLSSpec](),
		"ConnectorInvokeRequest":    reflect.TypeFor[invokeRequest](),
		"ConnectorRequest":          reflect.TypeFor[connector.Request](),
		"ConnectorResponse":         reflect.TypeFor[connector.Response](),
	} {
		var s struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(doc.Components.Schemas[name], &s); err != nil {
			t.Fatalf("schema %s: %v", name, err)
		}
		var props, documented []string
		for i := range typ.NumField() {
			tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			props = append(props, tag)
		}
		for p := range s.Properties {
			documented = append(documented, p)
		}
		slices.Sort(props)
		slices.Sort(documented)
		if !slices.Equal(documented, props) {
			t.Errorf("schema %s documents %v; %s has %v", name, documented, typ, props)
		}
	}
}

// TestReservedTokenClaims_CoverTheTokenService: the output claims the
// directory refuses on a token-issuance connector include every claim the
// token service refuses to let an enricher set, so that a stored connector
// never declares a claim that would be dropped.
func TestReservedTokenClaims_CoverTheTokenService(t *testing.T) {
	for _, c := range sts.ReservedClaims {
		if !slices.Contains(directory.ReservedTokenClaims, c) {
			t.Errorf("sts reserves %q but directory.ReservedTokenClaims does not", c)
		}
	}
}

// startEndpoint serves a connector endpoint on loopback that answers with
// status and body, and records the Authorization header and body it got.
func startEndpoint(t *testing.T, status int, body string) (url string, got func() (auth, req string)) {
	t.Helper()
	var mu sync.Mutex
	var auth, req string
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		auth, req = r.Header.Get("Authorization"), string(b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/enrich", func() (string, string) {
		mu.Lock()
		defer mu.Unlock()
		return auth, req
	}
}

// TestConnectors_InvokeCallsTheEndpointAndExplainsEveryAnswer: the invoke
// operation resolves the connector's password in the vault, sends the
// claims, and answers 200 with the invocation whatever the endpoint
// decided, the credential redacted.
func TestConnectors_InvokeCallsTheEndpointAndExplainsEveryAnswer(t *testing.T) {
	e := newVaultEnv(t)
	e.setSecret("hr-password") // "hunter2"
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		decision string
		want     []string
	}{
		{"continue", 200, `{"version":"1.0.0","action":"Continue","dept":"Finance","extra":1}`, "continue", []string{`"department":"Finance"`, `"ignoredClaims":["extra"]`}},
		{"block", 200, `{"version":"1.0.0","action":"ShowBlockPage","userMessage":"Suspended."}`, "block", []string{`"userMessage":"Suspended."`}},
		{"validation error", 400, `{"version":"1.0.0","status":400,"action":"ValidationError","userMessage":"Unknown cost centre."}`, "validationError", []string{`"userMessage":"Unknown cost centre."`}},
		{"anything else", 500, `oops`, "error", []string{`"error":`, "500"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, got := startEndpoint(t, tc.status, tc.body)
			b := connectorBody("c-" + strings.ReplaceAll(tc.name, " ", "-"))
			b["endpoint"], b["allowInsecureAuth"] = url, true
			b["outputClaims"] = []any{map[string]any{"claimType": "department", "partnerClaimType": "dept"}}
			e.must(http.StatusCreated, "POST", connectorsPath, b)
			r := e.must(http.StatusOK, "POST", connectorsPath+"/"+b["name"].(string)+"/invoke", map[string]any{"claims": map[string]any{"appid": "app-1", "undeclared": "x"}})
			var inv struct {
				Decision string `json:"decision"`
				Request  struct {
					Headers map[string][]string `json:"headers"`
				} `json:"request"`
			}
			if err := json.Unmarshal(r.body, &inv); err != nil {
				t.Fatal(err)
			}
			if inv.Decision != tc.decision {
				t.Fatalf("decision %q, want %q: %s", inv.Decision, tc.decision, r.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(r.body), w) {
					t.Errorf("%s lacks %s", r.body, w)
				}
			}
			if strings.Contains(string(r.body), "hunter2") || strings.Contains(string(r.body), "cG9ydGN1bGxpczpodW50ZXIy") {
				t.Errorf("the invocation shows the password: %s", r.body)
			}
			if a := inv.Request.Headers["Authorization"]; len(a) != 1 || !strings.Contains(a[0], "redacted") {
				t.Errorf("Authorization shown as %v", a)
			}
			auth, req := got()
			if auth != "Basic cG9ydGN1bGxpczpodW50ZXIy" || req != `{"clientId":"app-1"}` {
				t.Errorf("the endpoint got Authorization %q and body %q", auth, req)
			}
		})
	}
	wantError(t, e.do("POST", connectorsPath+"/nope/invoke", nil), http.StatusNotFound, "NotFound", `"nope"`)
	wantError(t, e.do("POST", connectorsPath+"/c-continue/invoke", map[string]any{"claim": map[string]any{}}), http.StatusBadRequest, "BadRequest", "claim")

	plain := newEnv(t)
	wantError(t, plain.do("POST", connectorsPath+"/hr/invoke", nil), http.StatusServiceUnavailable, "ServiceUnavailable", "without the vault")
}

// TestOpenAPI_ConnectorInvocationMatchesItsJSON: the documented fields of
// ConnectorInvocation are those connector.Invocation marshals to.
func TestOpenAPI_ConnectorInvocationMatchesItsJSON(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(doc.Components.Schemas["ConnectorInvocation"], &s); err != nil {
		t.Fatal(err)
	}
	full := connector.Invocation{Connector: "c", Response: &connector.Response{}, Decision: connector.Failed, UserMessage: "m", Error: "e",
		OutputClaims: map[string]any{"a": 1}, IgnoredClaims: []string{"b"}, Attempts: 1}
	b, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var documented, marshalled []string
	for k := range s.Properties {
		documented = append(documented, k)
	}
	for k := range m {
		marshalled = append(marshalled, k)
	}
	slices.Sort(documented)
	slices.Sort(marshalled)
	if !slices.Equal(documented, marshalled) {
		t.Errorf("ConnectorInvocation documents %v; connector.Invocation marshals %v", documented, marshalled)
	}
}

// TestDelete_HonoursIfMatch: a DELETE of an API or a connector with an
// If-Match of another revision deletes nothing (412), as a PUT does; with
// the current revision or "*" it deletes.
func TestDelete_HonoursIfMatch(t *testing.T) {
	e := newVaultEnv(t)
	e.setSecret("hr-password")
	for _, kind := range []struct {
		name, path string
		body       func(name string) any
	}{
		{"API", apisPath, func(n string) any { return apiBody(n, "/"+n) }},
		{"connector", connectorsPath, func(n string) any { return connectorBody(n) }},
	} {
		for _, tc := range []struct {
			name    string
			ifMatch func(rev string) string // "": no header
			status  int
			code    string
			want    string
		}{
			{"stale revision", func(string) string { return `"1"` }, 412, "PreconditionFailed", "not 1: it changed since you read it"},
			{"not a revision", func(string) string { return `W/"1"` }, 400, "BadRequest", "If-Match"},
			{"current revision", func(rev string) string { return rev }, 204, "", ""},
			{"any revision", func(string) string { return "*" }, 204, "", ""},
			{"no If-Match", func(string) string { return "" }, 204, "", ""},
		} {
			t.Run(kind.name+"/"+tc.name, func(t *testing.T) {
				name := strings.ToLower(strings.NewReplacer(" ", "-", "-", "").Replace("d" + tc.name))
				created := e.must(http.StatusCreated, "POST", kind.path, kind.body(name))
				req := request{method: "DELETE", path: kind.path + "/" + name, header: http.Header{}}
				if v := tc.ifMatch(created.header.Get("ETag")); v != "" {
					req.header.Set("If-Match", v)
				}
				r := e.send(req)
				if tc.status == 204 {
					if r.status != 204 {
						t.Fatalf("status %d: %s", r.status, r.body)
					}
					e.must(http.StatusNotFound, "GET", kind.path+"/"+name, nil)
					return
				}
				wantError(t, r, tc.status, tc.code, tc.want)
				e.must(http.StatusOK, "GET", kind.path+"/"+name, nil) // still there
				e.must(http.StatusNoContent, "DELETE", kind.path+"/"+name, nil)
			})
		}
	}
}
