package admin

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/pki"
)

func TestPasswordCredentials_SecretIsShownOnce(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("orders")
	base := "/admin/v1/tenants/default/applications/orders/passwordCredentials"

	r := e.must(http.StatusCreated, "POST", base, map[string]any{"description": "ci", "expiresInSeconds": 3600})
	created := strictDecode[secretOutT](t, r.body)
	if created.SecretText == "" || !strings.HasPrefix(created.SecretText, created.Hint) || len(created.Hint) != 3 {
		t.Fatalf("secretText %d chars, hint %q", len(created.SecretText), created.Hint)
	}
	if !isGUID(created.ID) || created.Description != "ci" || !created.StartDateTime.Equal(testNow) || !created.EndDateTime.Equal(testNow.Add(time.Hour)) || !created.CreatedAt.Equal(testNow) {
		t.Errorf("credential %+v", created)
	}
	stored, err := e.st.GetApplication(context.Background(), e.tenant.ID, app.AppID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.PasswordCredentials) != 1 || !directory.SecretMatches(stored.PasswordCredentials[0].Hash, created.SecretText) {
		t.Fatalf("the stored hash does not match the returned secret")
	}

	// Default lifetime is 180 days; an empty body is allowed.
	def := strictDecode[secretOutT](t, e.must(http.StatusCreated, "POST", base, nil).body)
	if !def.EndDateTime.Equal(testNow.Add(180 * 24 * time.Hour)) {
		t.Errorf("default expiry %s", def.EndDateTime)
	}
	e.must(http.StatusCreated, "POST", base, map[string]any{"expiresInSeconds": 2 * 365 * 24 * 3600})

	for _, path := range []string{base, "/admin/v1/tenants/default/applications/orders", "/admin/v1/tenants/default/applications"} {
		body := string(e.must(http.StatusOK, "GET", path, nil).body)
		if strings.Contains(body, created.SecretText) || strings.Contains(body, def.SecretText) || strings.Contains(body, "secretText") {
			t.Errorf("GET %s shows a secret: %s", path, body)
		}
	}
	list := strictDecode[listOf[secretOutT]](t, e.must(http.StatusOK, "GET", base, nil).body)
	if len(list.Value) != 3 || list.Value[0].Hint != created.Hint {
		t.Errorf("list %+v", list.Value)
	}
	if logs := e.logs.String(); strings.Contains(logs, created.SecretText) {
		t.Errorf("the log contains the secret")
	}

	cases := []struct {
		name   string
		body   any
		status int
		part   string
	}{
		{"too short", map[string]any{"expiresInSeconds": 3599}, 400, "1 hour"},
		{"too long", map[string]any{"expiresInSeconds": 2*365*24*3600 + 1}, 400, "2 years"},
		{"negative", map[string]any{"expiresInSeconds": -1}, 400, "expiresInSeconds"},
		{"fractional", `{"expiresInSeconds":3600.5}`, 400, `"expiresInSeconds" must be an integer`},
		{"description too long", map[string]any{"description": strings.Repeat("d", 1025)}, 400, "at most 1024"},
		{"unknown field", map[string]any{"secretText": "mine"}, 400, `unknown field "secretText"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.do("POST", base, c.body), c.status, "BadRequest", c.part)
		})
	}

	e.must(http.StatusNoContent, "DELETE", base+"/"+created.ID, nil)
	wantError(t, e.do("DELETE", base+"/"+created.ID, nil), 404, "NotFound", "no client secret")
	stored, _ = e.st.GetApplication(context.Background(), e.tenant.ID, app.AppID)
	for _, c := range stored.PasswordCredentials {
		if c.ID == created.ID {
			t.Error("deleted secret is still stored")
		}
	}
}

func TestPasswordCredentials_AtMostTwenty(t *testing.T) {
	e := newEnv(t)
	e.createApp("orders")
	base := "/admin/v1/tenants/default/applications/orders/passwordCredentials"
	for i := 0; i < directory.MaxPasswordCredentials; i++ {
		e.must(http.StatusCreated, "POST", base, nil)
	}
	wantError(t, e.do("POST", base, nil), 409, "Conflict", "maximum")
}

// testCert is a certificate with its key in the upload formats.
type testCert struct {
	cert *x509.Certificate
	der  []byte
	pem  []byte // certificate and private key
	pfx  []byte
}

func newTestCert(t testing.TB, cn string, now time.Time, validity time.Duration, pfxPassword string) testCert {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeyTypeEC256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.SelfSigned(pkix.Name{CommonName: cn}, key, validity, now)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := pki.EncodePFX(cert, key, nil, pfxPassword)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{cert: cert, der: cert.Raw, pem: append(pki.EncodeCertificatePEM(cert), keyPEM...), pfx: pfx}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestKeyCredentials_UploadFormats(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("orders")
	base := "/admin/v1/tenants/default/applications/orders/keyCredentials"
	const password = "pfx-pass-Correct7"
	cases := []struct {
		name string
		body func(c testCert) map[string]any
	}{
		{"DER", func(c testCert) map[string]any {
			return map[string]any{"certificate": b64(c.der), "description": "der"}
		}},
		{"PEM with private key", func(c testCert) map[string]any { return map[string]any{"certificate": b64(c.pem)} }},
		{"PFX with password", func(c testCert) map[string]any {
			return map[string]any{"certificate": b64(c.pfx), "password": password}
		}},
		{"unpadded wrapped base64", func(c testCert) map[string]any {
			s := strings.TrimRight(b64(c.der), "=")
			return map[string]any{"certificate": s[:40] + "\n" + s[40:]}
		}},
	}
	var ids []string
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := newTestCert(t, "client-"+c.name, testNow, 365*24*time.Hour, password)
			got := strictDecode[certOutT](t, expect(t, e.do("POST", base, c.body(tc)), http.StatusCreated))
			if got.Thumbprint != pki.ThumbprintSHA1Hex(tc.cert) || got.Thumbprint != strings.ToUpper(got.Thumbprint) || got.X5TS256 != pki.X5TS256(tc.cert) {
				t.Errorf("thumbprints %q %q", got.Thumbprint, got.X5TS256)
			}
			if got.Subject != "CN=client-"+c.name || !got.StartDateTime.Equal(tc.cert.NotBefore) || !got.EndDateTime.Equal(tc.cert.NotAfter) || !got.CreatedAt.Equal(testNow) || !isGUID(got.ID) {
				t.Errorf("credential %+v", got)
			}
			stored, err := e.st.GetApplication(context.Background(), e.tenant.ID, app.AppID)
			if err != nil {
				t.Fatal(err)
			}
			kc := stored.KeyCredentials[i]
			if string(kc.CertificateDER) != string(tc.der) {
				t.Errorf("stored DER differs from the certificate (only the public certificate may be kept)")
			}
			ids = append(ids, got.ID)
		})
	}
	list := strictDecode[listOf[certOutT]](t, e.must(http.StatusOK, "GET", base, nil).body)
	if len(list.Value) != len(cases) {
		t.Fatalf("%d certificates listed, want %d", len(list.Value), len(cases))
	}
	// Delete by thumbprint (any case) and by id.
	e.must(http.StatusNoContent, "DELETE", base+"/"+strings.ToLower(list.Value[0].Thumbprint), nil)
	e.must(http.StatusNoContent, "DELETE", base+"/"+list.Value[1].ID, nil)
	wantError(t, e.do("DELETE", base+"/"+list.Value[1].ID, nil), 404, "NotFound", "no certificate")
	list = strictDecode[listOf[certOutT]](t, e.must(http.StatusOK, "GET", base, nil).body)
	if len(list.Value) != len(cases)-2 {
		t.Errorf("%d certificates after two deletes", len(list.Value))
	}
}

func TestKeyCredentials_UploadErrors(t *testing.T) {
	e := newEnv(t)
	e.createApp("orders")
	base := "/admin/v1/tenants/default/applications/orders/keyCredentials"
	good := newTestCert(t, "good", testNow, 365*24*time.Hour, "secret-pw")
	expired := newTestCert(t, "expired", testNow.Add(-48*time.Hour), time.Hour, "")
	e.must(http.StatusCreated, "POST", base, map[string]any{"certificate": b64(good.der)})

	cases := []struct {
		name   string
		body   any
		status int
		code   string
		part   string
	}{
		{"missing certificate", map[string]any{"description": "x"}, 400, "BadRequest", `"certificate" is required`},
		{"bad base64", map[string]any{"certificate": "not base64!"}, 400, "BadRequest", "not standard base64"},
		{"base64url", map[string]any{"certificate": "ab-_"}, 400, "BadRequest", "base64url"},
		{"not a certificate", map[string]any{"certificate": b64([]byte("hello, world"))}, 400, "BadRequest", "does not hold a certificate"},
		{"wrong PFX password", map[string]any{"certificate": b64(good.pfx), "password": "wrong"}, 400, "BadRequest", `"password" is wrong`},
		{"missing PFX password", map[string]any{"certificate": b64(good.pfx)}, 400, "BadRequest", "password-protected"},
		{"truncated PEM", map[string]any{"certificate": b64(good.pem[:100])}, 400, "BadRequest", "could not be read"},
		{"expired", map[string]any{"certificate": b64(expired.der)}, 400, "BadRequest", "expired on"},
		{"duplicate thumbprint", map[string]any{"certificate": b64(good.pfx), "password": "secret-pw"}, 409, "Conflict", pki.ThumbprintSHA1Hex(good.cert)},
		{"unknown field", map[string]any{"certificate": b64(good.der), "key": "x"}, 400, "BadRequest", `unknown field "key"`},
		{"certificate not a string", `{"certificate":["a"]}`, 400, "BadRequest", `"certificate" must be a string`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", base, c.body)
			wantError(t, r, c.status, c.code, c.part)
			if strings.Contains(string(r.body), "secret-pw") {
				t.Errorf("the response echoes the PFX password")
			}
		})
	}
	if strings.Contains(e.logs.String(), "secret-pw") {
		t.Errorf("the log contains the PFX password")
	}
	wantError(t, e.do("POST", "/admin/v1/tenants/default/applications/nothing/keyCredentials", map[string]any{"certificate": b64(good.der)}), 404, "NotFound")
}

func TestKeyCredentials_AtMostTwenty(t *testing.T) {
	e := newEnv(t)
	e.createApp("orders")
	base := "/admin/v1/tenants/default/applications/orders/keyCredentials"
	for i := 0; i < directory.MaxKeyCredentials; i++ {
		c := newTestCert(t, "c", testNow, 24*time.Hour, "")
		e.must(http.StatusCreated, "POST", base, map[string]any{"certificate": b64(c.der)})
	}
	c := newTestCert(t, "c", testNow, 24*time.Hour, "")
	wantError(t, e.do("POST", base, map[string]any{"certificate": b64(c.der)}), 409, "Conflict", "maximum")
}

func TestPasswordCredentials_ConcurrentCreatesAreAllKept(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("orders")
	const n = 8
	statuses := make(chan int, n)
	for i := 0; i < n; i++ {
		go func() {
			statuses <- e.do("POST", "/admin/v1/tenants/default/applications/orders/passwordCredentials", nil).status
		}()
	}
	for i := 0; i < n; i++ {
		if s := <-statuses; s != http.StatusCreated {
			t.Errorf("status %d", s)
		}
	}
	stored, err := e.st.GetApplication(context.Background(), e.tenant.ID, app.AppID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.PasswordCredentials) != n {
		t.Errorf("%d secrets stored, want %d", len(stored.PasswordCredentials), n)
	}
}
