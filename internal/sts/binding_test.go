package sts_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/pki"
)

// payload decodes the claims of a compact JWS without verifying it (the
// tests verify with checkToken or guard separately).
func payload(t testing.TB, tok string) map[string]json.RawMessage {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestToken_CertificateBoundTokensForAResourceThatRequiresThem: a resource
// with RequireCertificateBoundTokens gets tokens with cnf x5t#S256 of the
// certificate that signed the client's assertion (MSAL, as is); a client
// with a secret is refused; tokens for other resources have no cnf.
func TestToken_CertificateBoundTokensForAResourceThatRequiresThem(t *testing.T) {
	e := newEnv(t)
	payments := directory.Application{TenantID: e.tenant.ID, AppID: guid(), ObjectID: guid(), DisplayName: "payments-api",
		IdentifierURIs: []string{"api://payments"}, RequireCertificateBoundTokens: true, CreatedAt: e.clock.Now()}
	e.apps = append(e.apps, payments)
	e.reload(t)
	ctx := context.Background()
	authority := e.base + "/" + e.tenant.ID

	msal := func(t *testing.T, clientID string, cred confidential.Credential, scope string) (string, error) {
		app, err := confidential.New(authority, clientID, cred, confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(e.hc))
		if err != nil {
			t.Fatalf("confidential.New: %v", err)
		}
		ar, err := app.AcquireTokenByCredential(ctx, []string{scope})
		return ar.AccessToken, err
	}
	certs, key, err := confidential.CertFromPEM(e.rsaPEM(t), "")
	if err != nil {
		t.Fatal(err)
	}
	certCred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		t.Fatal(err)
	}
	secretCred, err := confidential.NewCredFromSecret(e.secret)
	if err != nil {
		t.Fatal(err)
	}
	sha1Thumb := sha1.Sum(e.rsaCert.Raw)
	bound := `{"x5t#S256":"` + pki.X5TS256(e.rsaCert) + `"}`

	tests := []struct {
		name    string
		get     func(t *testing.T) (string, error)
		wantCnf string // "" : no cnf claim
		wantErr string // part of the refusal
	}{
		{"MSAL certificate, bound resource", func(t *testing.T) (string, error) {
			return msal(t, e.certClient.AppID, certCred, "api://payments/.default")
		}, bound, ""},
		{"assertion naming its certificate by SHA-1 x5t, bound resource", func(t *testing.T) (string, error) {
			a := e.assertion(t, jwt.SigningMethodRS256, clientRSA, map[string]any{"x5t": base64.RawURLEncoding.EncodeToString(sha1Thumb[:])}, e.certClient.AppID, nil)
			f := e.assertionForm(e.certClient.AppID, a)
			f.Set("scope", "api://payments/.default")
			r := e.post(t, "", f, nil)
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			return r.Token, nil
		}, bound, ""},
		{"MSAL certificate, unbound resource", func(t *testing.T) (string, error) {
			return msal(t, e.certClient.AppID, certCred, "api://orders/.default")
		}, "", ""},
		{"MSAL secret, unbound resource", func(t *testing.T) (string, error) {
			return msal(t, e.secretClient.AppID, secretCred, "api://orders/.default")
		}, "", ""},
		{"MSAL secret, bound resource", func(t *testing.T) (string, error) {
			return msal(t, e.secretClient.AppID, secretCred, "api://payments/.default")
		}, "", "AADSTS7000230: The resource 'payments-api' (" + payments.AppID + ") accepts only certificate-bound access tokens (RFC 8705), and application '" +
			e.secretClient.AppID + "' authenticated with a client secret. Use a certificate credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.get(t)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cnf, has := payload(t, tok)["cnf"]
			switch {
			case tt.wantCnf == "" && has:
				t.Errorf("token has cnf %s; tokens for resources that do not require binding must not change", cnf)
			case tt.wantCnf != "" && string(cnf) != tt.wantCnf:
				t.Errorf("cnf %s, want %s", cnf, tt.wantCnf)
			}
		})
	}

	t.Run("the refusal over the wire", func(t *testing.T) {
		f := e.secretForm(e.secretClient, e.secret)
		f.Set("scope", "api://payments/.default")
		r := e.post(t, "", f, nil)
		if r.Status != 400 || r.Error != "unauthorized_client" || len(r.Codes) != 1 || r.Codes[0] != 7000230 {
			t.Errorf("%d %s %v: %s", r.Status, r.Error, r.Codes, r.Desc)
		}
		if strings.Contains(r.Raw, e.secret) {
			t.Error("the refusal echoes the secret")
		}
		// A refusal after a valid secret is not a failed authentication:
		// the secret keeps working for other resources.
		for range 20 {
			e.post(t, "", f, nil)
		}
		if r := e.post(t, "", e.secretForm(e.secretClient, e.secret), nil); r.Status != 200 {
			t.Errorf("after refusals, a valid request: %d %s", r.Status, r.Raw)
		}
	})
}
