package admin

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/gateway"
)

type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas   map[string]json.RawMessage `json:"schemas"`
		Responses map[string]json.RawMessage `json:"responses"`
	} `json:"components"`
}

func TestOpenAPI_IsServedWithoutAuthentication(t *testing.T) {
	e := newEnv(t)
	r := e.send(request{method: "GET", path: "/admin/v1/openapi.json", noToken: true})
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, Content-Type %q", r.status, r.header.Get("Content-Type"))
	}
	doc := decodeAs[openAPIDoc](t, r.body)
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Errorf("openapi %q, want 3.0.x", doc.OpenAPI)
	}
}

func TestOpenAPI_DescribesExactlyTheRegisteredRoutes(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPIDocument(), &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Fatalf("openapi %q, want 3.0.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}

	// Every route is installed on the mux under its own pattern.
	mux := http.NewServeMux()
	New(Config{}).Register(mux)
	registered := map[string]bool{}
	for _, rt := range routes() {
		pattern := rt.method + " " + rt.path
		registered[pattern] = true
		probe := httptest.NewRequest(rt.method, strings.NewReplacer("{tenant}", "t", "{app}", "a", "{role}", "r", "{id}", "i", "{name}", "n").Replace(rt.path), nil)
		if _, got := mux.Handler(probe); got != pattern {
			t.Errorf("%s is served by pattern %q", pattern, got)
		}
	}
	var missing, extra []string
	for p := range registered {
		if !documented[p] {
			missing = append(missing, p)
		}
	}
	for p := range documented {
		if !registered[p] {
			extra = append(extra, p)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes missing from openapi.json: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("openapi.json documents routes that are not registered: %v", extra)
	}
}

func TestOpenAPI_ReferencesResolve(t *testing.T) {
	raw := string(OpenAPIDocument())
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, part := range strings.Split(raw, `"$ref": "`)[1:] {
		ref := part[:strings.IndexByte(part, '"')]
		name := ref[strings.LastIndexByte(ref, '/')+1:]
		switch {
		case strings.HasPrefix(ref, "#/components/schemas/"):
			if _, ok := doc.Components.Schemas[name]; !ok {
				t.Errorf("unresolved %s", ref)
			}
		case strings.HasPrefix(ref, "#/components/responses/"):
			if _, ok := doc.Components.Responses[name]; !ok {
				t.Errorf("unresolved %s", ref)
			}
		default:
			t.Errorf("unexpected reference %s", ref)
		}
	}
}

func TestRegister_CoexistsWithTheTokenServiceRoutes(t *testing.T) {
	mux := http.NewServeMux()
	ok := func(http.ResponseWriter, *http.Request) {}
	// The token service's patterns (internal/sts) share the mux; a
	// conflicting pattern would panic here.
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", ok)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", ok)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", ok)
	New(Config{}).Register(mux)
	probe := httptest.NewRequest("POST", "/admin/oauth2/v2.0/token", nil)
	if _, p := mux.Handler(probe); p != "POST /{tenant}/oauth2/v2.0/token" {
		t.Errorf("a tenant named admin is served by %q", p)
	}
}

// TestOpenAPI_GatewaySchemasMatchTheGoTypes keeps the documented fields of
// the gateway operations equal to the JSON of the types that carry them:
// every field documented, required exactly when it is always sent.
func TestOpenAPI_GatewaySchemasMatchTheGoTypes(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]reflect.Type{
		"ExplainRequest":     reflect.TypeFor[gateway.ExplainRequest](),
		"ExplainResult":      reflect.TypeFor[gateway.ExplainResult](),
		"ExplainStep":        reflect.TypeFor[gateway.ExplainStep](),
		"ExplainedPrincipal": reflect.TypeFor[gateway.ExplainedPrincipal](),
		"GatewayInfo":        reflect.TypeFor[gatewayInfoJSON](),
		"GatewayProblem":     reflect.TypeFor[gatewayProblemJSON](),
	} {
		var s struct {
			Required   []string                   `json:"required"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(doc.Components.Schemas[name], &s); err != nil {
			t.Fatalf("schema %s: %v", name, err)
		}
		var props, required []string
		for i := range typ.NumField() {
			tag, opts, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			props = append(props, tag)
			if !strings.Contains(opts, "omitempty") {
				required = append(required, tag)
			}
		}
		documented := slices.Sorted(maps.Keys(s.Properties))
		slices.Sort(props)
		slices.Sort(required)
		slices.Sort(s.Required)
		if !slices.Equal(documented, props) {
			t.Errorf("schema %s documents %v; %s has %v", name, documented, typ, props)
		}
		if !slices.Equal(s.Required, required) {
			t.Errorf("schema %s requires %v; %s always sends %v", name, s.Required, typ, required)
		}
	}
}
