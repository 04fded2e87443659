package sts_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/sts"
)

// TestApplicationSecrets_AdmitsAnApplicationByBasic: guard.Basic over
// sts.ApplicationSecrets admits an application by its client id and secret
// (the Principal is the application) and refuses everything else with a
// Basic challenge that never repeats the secret.
func TestApplicationSecrets_AdmitsAnApplicationByBasic(t *testing.T) {
	e := newEnvNoTLS(t)
	h := guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := guard.PrincipalFrom(r.Context())
		io.WriteString(w, string(p.Method)+" "+p.AppID+" "+p.TenantID+" "+p.CredentialID)
	}), guard.Policy{
		Authenticators: []guard.Authenticator{guard.Basic(sts.ApplicationSecrets{Server: e.srv, Tenant: e.tenant.Name})},
		Realm:          "orders",
	})
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for _, tc := range []struct {
		name   string
		auth   string
		status int
		want   string
	}{
		{"client id and secret", basic(e.secretClient.AppID, e.secret), 200, "basic " + e.secretClient.AppID + " " + e.tenant.ID + " " + e.secretID},
		{"wrong secret", basic(e.secretClient.AppID, "not-the-secret"), 401, "Invalid client secret"},
		{"the secret's id instead of its value", basic(e.secretClient.AppID, e.secretID), 401, "not the secret's value"},
		{"expired secret", basic(e.expiredSecret.AppID, e.expiredSecretText), 401, "expired"},
		{"unknown client", basic("7a4c1f0e-0000-4000-8000-000000000000", e.secret), 401, "was not found"},
		{"client id that is no GUID", basic("admin", e.secret), 401, "was not found"},
		{"no credentials", "", 401, "no credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "https://api.example/orders", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			body := w.Body.String()
			if w.Code != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s, want %d containing %q", w.Code, body, tc.status, tc.want)
			}
			if tc.status == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("challenge %q, want Basic", w.Header().Get("WWW-Authenticate"))
			}
			if tc.status != 200 && (strings.Contains(body, e.secret) || strings.Contains(body, e.expiredSecretText)) {
				t.Errorf("the refusal repeats a secret: %s", body)
			}
		})
	}
}
