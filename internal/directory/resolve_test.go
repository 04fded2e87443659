package directory

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/store"
)

// appsTx is a Tx over a fixed list of one tenant's applications; it offers
// only the reads resolveApp makes (other methods panic through the nil Tx).
type appsTx struct {
	Tx
	apps []Application
}

func (f appsTx) GetApplication(_ context.Context, tenantID, appID string) (Application, error) {
	for _, a := range f.apps {
		if a.AppID == appID {
			return a, nil
		}
	}
	return Application{}, fmt.Errorf("application %q: %w", appID, store.ErrNotFound)
}

func (f appsTx) FindApplications(_ context.Context, _ string, q ApplicationQuery) ([]Application, error) {
	var out []Application
	for _, a := range f.apps {
		if q.DisplayName != "" && strings.EqualFold(a.DisplayName, q.DisplayName) {
			out = append(out, a)
		}
	}
	return out, nil
}

func TestResolveApp_ByAppIDOrUniqueDisplayName(t *testing.T) {
	tn := Tenant{ID: newGUID(), Name: "t"}
	tx := appsTx{apps: []Application{
		{AppID: "11111111-1111-1111-1111-111111111111", DisplayName: "dup"},
		{AppID: "22222222-2222-2222-2222-222222222222", DisplayName: "DUP"},
		{AppID: "33333333-3333-3333-3333-333333333333", DisplayName: "single"},
	}}
	tests := []struct {
		name     string
		ref      string
		wantApp  string
		wantKind Kind
		wantMsg  string
	}{
		{"by appId in another case", "33333333-3333-3333-3333-333333333333", "single", 0, ""},
		{"by display name in another case", "SINGLE", "single", 0, ""},
		{"an ambiguous display name names every appId", "Dup", "", Conflict, "11111111-1111-1111-1111-111111111111, 22222222-2222-2222-2222-222222222222"},
		{"an unknown name is not found", "none", "", NotFound, `application "none" not found in tenant t`},
		{"an unknown appId is not found", "44444444-4444-4444-4444-444444444444", "", NotFound, "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, err := resolveApp(context.Background(), tx, tn, tc.ref, "application")
			if tc.wantKind == 0 {
				if err != nil || app.DisplayName != tc.wantApp {
					t.Fatalf("resolveApp(%q) = %q, %v; want %q", tc.ref, app.DisplayName, err, tc.wantApp)
				}
				return
			}
			if KindOf(err) != tc.wantKind || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("resolveApp(%q) error %v (kind %v), want kind %v containing %q", tc.ref, err, KindOf(err), tc.wantKind, tc.wantMsg)
			}
		})
	}
}
