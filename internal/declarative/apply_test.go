package declarative

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/adminclient"
)

// recordingAdmin records the admin calls a plan makes and refuses the one
// named by refuse; calls it does not implement panic (through the nil
// embedded interface), which would fail the test.
type recordingAdmin struct {
	Admin
	calls  []string
	refuse string
}

func (r *recordingAdmin) call(name string) error {
	r.calls = append(r.calls, name)
	if name == r.refuse {
		return &adminclient.APIError{Status: http.StatusConflict, Code: "Conflict", Message: "the server says no"}
	}
	return nil
}

func (r *recordingAdmin) CreateTenant(_ context.Context, name string) (adminclient.Tenant, error) {
	return adminclient.Tenant{Name: name}, r.call("CreateTenant " + name)
}

func (r *recordingAdmin) CreateApplication(_ context.Context, tenant string, a adminclient.NewApplication) (adminclient.Application, error) {
	return adminclient.Application{}, r.call("CreateApplication " + tenant + "/" + a.DisplayName)
}

func (r *recordingAdmin) AddAppRole(_ context.Context, tenant, app string, role adminclient.NewAppRole) (adminclient.AppRole, error) {
	return adminclient.AppRole{}, r.call("AddAppRole " + tenant + "/" + app + "/" + role.Value)
}

func (r *recordingAdmin) AddGrant(_ context.Context, tenant string, g adminclient.NewGrant) (adminclient.Grant, error) {
	return adminclient.Grant{}, r.call("AddGrant " + tenant + "/" + g.Client)
}

func TestApply_RunsInOrderAndStopsAtTheFirstRefusal(t *testing.T) {
	doc := loadYAML(t, `
tenants:
  - name: contoso
    grants: [{client: shop, resource: billing, role: Bill.Read}]
    applications:
      - {displayName: billing, appRoles: [{value: Bill.Read}]}
      - displayName: shop
`, nil)
	plan, err := NewPlan(doc, &State{}, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		refuse    string
		wantCalls []string
		wantDone  int // changes reported done
		wantErr   string
	}{
		{"all accepted", "", []string{"CreateTenant contoso", "CreateApplication contoso/billing", "CreateApplication contoso/shop", "AddAppRole contoso/billing/Bill.Read", "AddGrant contoso/shop"}, 5, ""},
		{"refused midway", "AddAppRole contoso/billing/Bill.Read", []string{"CreateTenant contoso", "CreateApplication contoso/billing", "CreateApplication contoso/shop", "AddAppRole contoso/billing/Bill.Read"}, 3,
			"+ app role contoso/billing/Bill.Read: the server says no\nthe server refused change 4 of 5: the 3 before it were made, it and the 1 after it were not; fix the cause and apply again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin := &recordingAdmin{refuse: tc.refuse}
			var out bytes.Buffer
			err := plan.Apply(t.Context(), Clients{Admin: admin}, &out)
			if strings.Join(admin.calls, "\n") != strings.Join(tc.wantCalls, "\n") {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(admin.calls, "\n"), strings.Join(tc.wantCalls, "\n"))
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Apply: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Apply error = %v, want %q", err, tc.wantErr)
			}
			if got := strings.Count(out.String(), "\n"); got != tc.wantDone {
				t.Errorf("Apply reported %d done changes:\n%s", got, out.String())
			}
		})
	}
}
