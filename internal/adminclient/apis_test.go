package adminclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
)

func TestClient_APIRoutesBodiesAndIfMatch(t *testing.T) {
	f := startFakeAdmin(t)
	c := f.newClient(t, "admin-secret", time.Now)
	ctx := context.Background()
	api := API{Name: "orders", Match: directory.APIMatch{PathPrefix: "/orders"}, Backend: directory.Backend{URLs: []string{"http://127.0.0.1:9000"}},
		Policy: guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecAPIKey, Header: "x-functions-key", Keys: []guard.APIKeySpec{{Name: "k", Secret: "vault://kv1/secrets/k"}}}}}}
	stored := api
	stored.Revision = 7
	js, _ := json.Marshal(stored)
	f.set(200, string(js))

	calls := []struct {
		name    string
		call    func() error
		request string
		ifMatch string
	}{
		{"create", func() error { _, err := c.CreateAPI(ctx, "contoso", api); return err }, "POST /admin/v1/tenants/contoso/apis", ""},
		{"get", func() error {
			got, err := c.GetAPI(ctx, "contoso", "orders")
			if err == nil && got.Revision != 7 {
				err = errors.New("revision not decoded")
			}
			return err
		}, "GET /admin/v1/tenants/contoso/apis/orders", ""},
		{"update with revision", func() error { _, err := c.UpdateAPI(ctx, "contoso", api, 7); return err }, "PUT /admin/v1/tenants/contoso/apis/orders", `"7"`},
		{"update without", func() error { _, err := c.UpdateAPI(ctx, "contoso", api, 0); return err }, "PUT /admin/v1/tenants/contoso/apis/orders", ""},
		{"delete", func() error { return c.DeleteAPI(ctx, "con toso", "orders") }, "DELETE /admin/v1/tenants/con%20toso/apis/orders", ""},
	}
	for _, tc := range calls {
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		last := len(f.requests) - 1
		if f.requests[last] != tc.request || f.ifMatch[last] != tc.ifMatch {
			t.Errorf("%s: sent %s with If-Match %q; want %s with %q", tc.name, f.requests[last], f.ifMatch[last], tc.request, tc.ifMatch)
		}
		if strings.HasPrefix(tc.request, "POST") || strings.HasPrefix(tc.request, "PUT") {
			if !strings.Contains(f.bodies[last], `"pathPrefix":"/orders"`) || !strings.Contains(f.bodies[last], `"x-functions-key"`) {
				t.Errorf("%s: body %s", tc.name, f.bodies[last])
			}
		}
	}

	f.set(200, `{"value":[{"name":"a"},{"name":"b"}]}`)
	l, err := c.ListAPIs(ctx, "contoso")
	if err != nil || len(l) != 2 || l[1].Name != "b" {
		t.Fatalf("ListAPIs = %+v, %v", l, err)
	}
	f.set(412, `{"error":{"code":"PreconditionFailed","message":"API \"orders\" is at revision 8, not 7"}}`)
	_, err = c.UpdateAPI(ctx, "contoso", api, 7)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusPreconditionFailed || !strings.Contains(ae.Message, "revision 8") {
		t.Fatalf("412: %v", err)
	}
	if err := c.DeleteAPI(ctx, "contoso", ".."); err == nil {
		t.Fatal("a name of .. was sent")
	}
}
