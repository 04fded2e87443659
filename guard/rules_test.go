package guard

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRules_Authorize(t *testing.T) {
	_, cert := selfSigned(t, "orders-client", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	sum := sha256.Sum256(cert.Raw)
	app := &Principal{Method: MethodBearer, TenantID: "C0FFEE00-0000-0000-0000-000000000001", AppID: "a1", ObjectID: "o1",
		Roles: []string{"Orders.Read"}}
	delegated := &Principal{Method: MethodBearer, TenantID: "t1", Scopes: []string{"orders.write", "Orders.Write"}}
	certP := &Principal{Method: MethodClientCertificate, Certificate: cert}
	tests := []struct {
		name   string
		rules  Rules
		p      *Principal
		status int // 0: allowed
		desc   string
	}{
		{"no rules", Rules{}, app, 0, ""},
		{"role any of", Rules{Roles: []string{"Orders.Write", "Orders.Read"}}, app, 0, ""},
		{"role exact case", Rules{Roles: []string{"orders.read"}}, app, 403, "the caller carries roles [Orders.Read] and scopes [], but this API requires one of the roles [orders.read]"},
		{"role or scope: scope", Rules{Roles: []string{"Orders.Admin"}, Scopes: []string{"Orders.Write"}}, delegated, 0, ""},
		{"role or scope: role", Rules{Roles: []string{"Orders.Read"}, Scopes: []string{"Orders.Write"}}, app, 0, ""},
		{"neither", Rules{Roles: []string{"Orders.Admin"}, Scopes: []string{"Orders.Admin"}}, delegated, 403, "one of the roles [Orders.Admin] or one of the scopes [Orders.Admin]"},
		{"tenant allowed ignoring case", Rules{Tenants: []string{"c0ffee00-0000-0000-0000-000000000001"}}, app, 0, ""},
		{"tenant refused is 401", Rules{Tenants: []string{"t2"}}, app, 401, `tenant "C0FFEE00-0000-0000-0000-000000000001" is not allowed to call this API (allowed: [t2])`},
		{"no tenant is refused", Rules{Tenants: []string{"t2"}}, certP, 401, "tenant (none) is not allowed"},
		{"application allowed", Rules{Applications: []string{"A1"}}, app, 0, ""},
		{"application refused", Rules{Applications: []string{"a2"}}, app, 403, `application "a1" is not allowed`},
		{"object refused", Rules{ObjectIDs: []string{"o2"}}, app, 403, `object "o1" is not allowed`},
		{"method refused", Rules{Methods: []Method{MethodClientCertificate}}, app, 403, "does not accept bearer credentials (accepted: clientCertificate)"},
		{"certificate subject", Rules{CertificateSubjects: []string{"CN=orders-client,O=Portcullis Test"}}, certP, 0, ""},
		{"certificate subject refused", Rules{CertificateSubjects: []string{"CN=other"}}, certP, 403, `subject "CN=orders-client,O=Portcullis Test" is not allowed`},
		{"certificate issuer", Rules{CertificateIssuers: []string{"CN=orders-client,O=Portcullis Test"}}, certP, 0, ""},
		{"certificate issuer refused", Rules{CertificateIssuers: []string{"CN=CA"}}, certP, 403, "issuer"},
		{"thumbprint upper hex", Rules{CertificateThumbprints: []string{strings.ToUpper(hex.EncodeToString(sum[:]))}}, certP, 0, ""},
		{"thumbprint base64url", Rules{CertificateThumbprints: []string{base64.RawURLEncoding.EncodeToString(sum[:])}}, certP, 0, ""},
		{"thumbprint refused", Rules{CertificateThumbprints: []string{strings.Repeat("00", 32)}}, certP, 403, "thumbprint " + hex.EncodeToString(sum[:]) + " is not allowed"},
		{"certificate rule without certificate", Rules{CertificateSubjects: []string{"CN=x"}}, app, 403, "requires a client certificate"},
		{"nil principal", Rules{}, nil, 401, "no authenticated principal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rules.Authorize(tt.p)
			if tt.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != tt.status || !strings.Contains(e.Description, tt.desc) {
				t.Fatalf("got %#v\nwant %d containing %q", err, tt.status, tt.desc)
			}
			wantCode := CodeInsufficientScope
			if tt.status == http.StatusUnauthorized {
				wantCode = CodeInvalidToken
			}
			if e.Code != wantCode {
				t.Errorf("code %q, want %q", e.Code, wantCode)
			}
		})
	}
}

func TestRules_ValidateNamesTheBadValue(t *testing.T) {
	if err := (Rules{CertificateThumbprints: []string{"nope"}}).Validate(); err == nil || !strings.Contains(err.Error(), `CertificateThumbprints "nope"`) {
		t.Errorf("thumbprint: %v", err)
	}
	if err := (Rules{Methods: []Method{"password"}}).Validate(); err == nil || !strings.Contains(err.Error(), `Methods "password"`) {
		t.Errorf("method: %v", err)
	}
}

func TestError_ChallengeAndBody(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"invalid token", invalidToken("expired"), `Bearer realm="orders", error="invalid_token", error_description="expired"`},
		{"quotes and backslashes", invalidToken(`kid "a\b"`), `Bearer realm="orders", error="invalid_token", error_description="kid 'a'b'"`},
		{"control and non-ASCII", invalidToken("a\r\nb\u00e9"), `Bearer realm="orders", error="invalid_token", error_description="a??b??"`},
		{"no credentials: no error code", &Error{Status: 401, Description: "no credentials"}, `Bearer realm="orders"`},
		{"basic", &Error{Status: 401, Code: CodeInvalidToken, Description: "wrong", Scheme: "Basic"}, `Basic realm="orders", charset="UTF-8"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AsError(tt.err).Challenge("orders"); got != tt.want {
				t.Errorf("challenge %s\nwant      %s", got, tt.want)
			}
		})
	}
}

func TestAsError_MapsOtherErrorsWithoutA500(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{errors.New("boom"), 401, CodeInvalidToken},
		{ErrNoCredentials, 401, ""},
		{errors.Join(errors.New("x"), ErrKeySourceUnavailable), 503, CodeTemporarilyUnavailable},
		{insufficientScope("no"), 403, CodeInsufficientScope},
	}
	for _, tt := range tests {
		e := AsError(tt.err)
		if e.Status != tt.status || e.Code != tt.code {
			t.Errorf("%v → %d %q, want %d %q", tt.err, e.Status, e.Code, tt.status, tt.code)
		}
	}
	if AsError(nil) != nil {
		t.Error("AsError(nil) != nil")
	}
}
