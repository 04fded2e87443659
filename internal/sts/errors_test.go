package sts_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/sts"
)

func TestToken_ErrorsAreEntraShaped(t *testing.T) {
	e := newEnv(t, func(c *sts.Config) { c.MaxBodyBytes = 4096 })
	now := e.clock.Now()
	x5t := map[string]any{"x5t": pki.X5T(e.rsaCert)}
	x5tS256 := map[string]any{"x5t#S256": pki.X5TS256(e.rsaCert)}
	cert := e.certClient.AppID
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	secretScope := func(scope string) url.Values {
		f := e.secretForm(e.secretClient, e.secret)
		f.Set("scope", scope)
		return f
	}
	postForm := func(tenant string, f url.Values, hdr ...string) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			if tenant == "" {
				tenant = e.tenant.ID
			}
			req, _ := http.NewRequest(http.MethodPost, e.base+"/"+tenant+"/oauth2/v2.0/token", strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			return req
		}
	}
	assertion := func(m jwt.SigningMethod, key any, hdr map[string]any, client string, edit func(jwt.MapClaims)) url.Values {
		return e.assertionForm(client, e.assertion(t, m, key, hdr, client, edit))
	}
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(user)+":"+url.QueryEscape(pass)))
	}
	replayed := e.assertion(t, jwt.SigningMethodPS256, clientRSA, x5tS256, cert, nil)
	noneAssertion := func() url.Values {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"aud": e.tokenURL(), "iss": cert, "sub": cert, "jti": guid(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
		tok.Header["x5t"] = pki.X5T(e.rsaCert)
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return e.assertionForm(cert, s)
	}

	cases := []struct {
		name    string
		before  func(t *testing.T)
		req     func(t *testing.T) *http.Request
		status  int
		err     string
		code    int
		message []string // substrings of error_description
		absent  []string // what error_description must not contain
	}{
		{name: "unknown tenant on token", req: postForm("nosuchtenant", e.secretForm(e.secretClient, e.secret)),
			status: 400, err: "invalid_tenant", code: 90002, message: []string{"'nosuchtenant' not found"}},
		{name: "unknown tenant on discovery", req: func(t *testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, e.base+"/"+guid()+"/v2.0/.well-known/openid-configuration", nil)
			return r
		}, status: 400, err: "invalid_tenant", code: 90002},
		{name: "unknown tenant on JWKS", req: func(t *testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, e.base+"/fabrikam/discovery/v2.0/keys", nil)
			return r
		}, status: 400, err: "invalid_tenant", code: 90002},
		{name: "unknown client", req: postForm("", with(e.secretForm(e.resource, "x"), "client_id", guid())),
			status: 400, err: "unauthorized_client", code: 700016, message: []string{"was not found in the directory 'contoso'"}},
		{name: "wrong secret", req: postForm("", e.secretForm(e.secretClient, "Wro~ngSecret")),
			status: 401, err: "invalid_client", code: 7000215, message: []string{"client secret value, not the client secret ID"}},
		{name: "secret id instead of value", req: postForm("", e.secretForm(e.secretClient, e.secretID)),
			status: 401, err: "invalid_client", code: 7000215, message: []string{"is the ID of the client secret", e.secretID},
			absent: []string{e.secret[:3] + "…"}}, // the hint: the caller has not shown the secret
		{name: "expired secret", req: postForm("", e.secretForm(e.expiredSecret, e.expiredSecretText)),
			status: 401, err: "invalid_client", code: 7000222, message: []string{"are expired", "expired on"}},
		{name: "old expired secret of an app that has a current one", req: postForm("", e.secretForm(e.secretClient, "Old~SecretThatExpired0123456789")),
			status: 401, err: "invalid_client", code: 7000222},
		{name: "no credential", req: postForm("", form("grant_type", "client_credentials", "client_id", e.noCredClient.AppID, "scope", "api://orders/.default")),
			status: 401, err: "invalid_client", code: 7000218, message: []string{"'client_assertion' or 'client_secret'"}},
		{name: "unknown thumbprint", req: postForm("", assertion(jwt.SigningMethodPS256, otherRSA, map[string]any{"x5t#S256": pki.X5TS256(e.otherCert)}, cert, nil)),
			status: 401, err: "invalid_client", code: 700027, message: []string{"The key was not found", pki.X5TS256(e.otherCert), pki.X5TS256(e.rsaCert)}},
		{name: "unknown SHA-1 thumbprint names registered SHA-1 thumbprints", req: postForm("", assertion(jwt.SigningMethodRS256, otherRSA, map[string]any{"x5t": pki.X5T(e.otherCert)}, cert, nil)),
			status: 401, err: "invalid_client", code: 700027, message: []string{pki.ThumbprintSHA1Hex(e.otherCert), pki.ThumbprintSHA1Hex(e.rsaCert)}},
		{name: "bad signature", req: postForm("", assertion(jwt.SigningMethodPS256, otherRSA, x5tS256, cert, nil)),
			status: 401, err: "invalid_client", code: 700027, message: []string{"signature does not verify"}},
		{name: "expired certificate credential", req: postForm("", assertion(jwt.SigningMethodPS256, clientRSA, x5tS256, e.expiredCert.AppID, nil)),
			status: 401, err: "invalid_client", code: 700027, message: []string{"expired on"}},
		{name: "expired assertion shows the server time", req: postForm("", assertion(jwt.SigningMethodPS256, clientRSA, x5tS256, cert, func(c jwt.MapClaims) {
			c["nbf"], c["exp"] = now.Add(-20*time.Minute).Unix(), now.Add(-10*time.Minute).Unix()
		})), status: 401, err: "invalid_client", code: 700024, message: []string{"Current time: " + now.UTC().Format("2006-01-02T15:04:05Z"), "expiry time of assertion"}},
		{name: "assertion not yet valid", req: postForm("", assertion(jwt.SigningMethodPS256, clientRSA, x5tS256, cert, func(c jwt.MapClaims) {
			c["nbf"], c["exp"] = now.Add(10*time.Minute).Unix(), now.Add(15*time.Minute).Unix()
		})), status: 401, err: "invalid_client", code: 700024},
		{name: "assertion lifetime too long", req: postForm("", assertion(jwt.SigningMethodPS256, clientRSA, x5tS256, cert, func(c jwt.MapClaims) {
			c["exp"] = now.Add(time.Hour).Unix()
		})), status: 401, err: "invalid_client", code: 700024, message: []string{"at most 10m0s"}},
		{name: "assertion without nbf or iat may not outlive the maximum", req: postForm("", assertion(jwt.SigningMethodPS256, clientRSA, x5tS256, cert, func(c jwt.MapClaims) {
			delete(c, "nbf")
			c["exp"] = now.Add(30 * time.Minute).Unix()
		})), status: 401, err: "invalid_client", code: 700024},
		{name: "aud mismatch", req: postForm("", assertion(jwt.SigningMethodPS256, clientRSA, x5tS256, cert, func(c jwt.MapClaims) {
			c["aud"] = "https://login.microsoftonline.com/" + e.tenant.ID + "/oauth2/v2.0/token"
		})), status: 401, err: "invalid_client", code: 50012, message: []string{"does not match Realm issuer"}},
		{name: "aud of another tenant", req: postForm("", assertion(jwt.SigningMethodPS256, clientRSA, x5tS256, cert, func(c jwt.MapClaims) {
			c["aud"] = e.base + "/" + guid() + "/oauth2/v2.0/token"
		})), status: 401, err: "invalid_client", code: 50012},
		{name: "iss differs from sub", req: postForm("", assertion(jwt.SigningMethodPS256, clientRSA, x5tS256, cert, func(c jwt.MapClaims) {
			c["iss"] = guid()
		})), status: 401, err: "invalid_client", code: 50048},
		{name: "sub differs from client_id", req: postForm("", e.assertionForm(e.ecClient.AppID, e.assertion(t, jwt.SigningMethodPS256, clientRSA, x5tS256, cert, nil))),
			status: 401, err: "invalid_client", code: 700021},
		{name: "jti missing", req: postForm("", assertion(jwt.SigningMethodPS256, clientRSA, x5tS256, cert, func(c jwt.MapClaims) { delete(c, "jti") })),
			status: 401, err: "invalid_client", code: 50027, message: []string{"jti"}},
		{name: "replayed jti", before: func(t *testing.T) {
			if r := e.post(t, "", e.assertionForm(cert, replayed), nil); r.Status != 200 {
				t.Fatalf("first use: %d %s", r.Status, r.Raw)
			}
		}, req: postForm("", e.assertionForm(cert, replayed)), status: 401, err: "invalid_client", code: 50027, message: []string{"already used"}},
		{name: "alg none refused", req: postForm("", noneAssertion()), status: 401, err: "invalid_client", code: 5002738, message: []string{"'none' is not a supported"}},
		{name: "alg HS256 refused", req: postForm("", assertion(jwt.SigningMethodHS256, []byte("the certificate is public"), x5t, cert, nil)),
			status: 401, err: "invalid_client", code: 5002738},
		{name: "ES256 with an RSA certificate", req: postForm("", assertion(jwt.SigningMethodES256, clientEC, x5t, cert, nil)),
			status: 401, err: "invalid_client", code: 700027, message: []string{"does not suit the certificate's RSA key"}},
		{name: "assertion that is not a JWT", req: postForm("", e.assertionForm(cert, "not.a-jwt")),
			status: 401, err: "invalid_client", code: 50027},
		{name: "wrong client_assertion_type", req: postForm("", with(e.assertionForm(cert, replayed), "client_assertion_type", "urn:x")),
			status: 400, err: "invalid_request", code: 9002313},
		{name: "scope without /.default", req: postForm("", secretScope("api://orders/Orders.Read")),
			status: 400, err: "invalid_scope", code: 1002012, message: []string{"api://orders/.default"}},
		{name: "scope is a bare resource", req: postForm("", secretScope("api://orders")),
			status: 400, err: "invalid_scope", code: 1002012, message: []string{"api://orders/.default"}},
		{name: "two resources", req: postForm("", secretScope("api://orders/.default api://other/.default")),
			status: 400, err: "invalid_scope", code: 70011, message: []string{"api://<resource>/.default"}},
		{name: "only OIDC scopes", req: postForm("", secretScope("openid profile offline_access")),
			status: 400, err: "invalid_scope", code: 1002012},
		{name: "empty resource", req: postForm("", secretScope("/.default")), status: 400, err: "invalid_scope", code: 70011},
		{name: "unknown resource", req: postForm("", secretScope("api://nothing-here/.default")),
			status: 400, err: "invalid_resource", code: 500011, message: []string{"api://nothing-here"}},
		{name: "missing scope", req: postForm("", with(e.secretForm(e.secretClient, e.secret), "scope", "")),
			status: 400, err: "invalid_request", code: 900144, message: []string{"'scope'"}},
		{name: "missing grant_type", req: postForm("", with(e.secretForm(e.secretClient, e.secret), "grant_type", "")),
			status: 400, err: "invalid_request", code: 900144, message: []string{"'grant_type'"}},
		{name: "missing client_id", req: postForm("", form("grant_type", "client_credentials", "client_secret", "x", "scope", "api://orders/.default")),
			status: 400, err: "invalid_request", code: 900144, message: []string{"'client_id'"}},
		{name: "unsupported grant type", req: postForm("", with(e.secretForm(e.secretClient, e.secret), "grant_type", "password")),
			status: 400, err: "unsupported_grant_type", code: 70003},
		{name: "wrong content type", req: func(t *testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, e.tokenURL(), strings.NewReader(`{"grant_type":"client_credentials"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, status: 400, err: "invalid_request", code: 900144, message: []string{"application/x-www-form-urlencoded", "application/json"}},
		{name: "oversized body", req: postForm("", with(e.secretForm(e.secretClient, e.secret), "padding", strings.Repeat("x", 8192))),
			status: 413, err: "invalid_request", code: 9002313, message: []string{"exceeds 4096 bytes"}},
		{name: "duplicate parameter", req: func(t *testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, e.tokenURL(), strings.NewReader(e.secretForm(e.secretClient, e.secret).Encode()+"&scope=api://x/.default"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, status: 400, err: "invalid_request", code: 9002313, message: []string{"'scope' is included more than once"}},
		{name: "Basic and post secrets inconsistent", req: postForm("", e.secretForm(e.secretClient, "other"), "Authorization", basic(e.secretClient.AppID, e.secret)),
			status: 400, err: "invalid_request", code: 9002313, message: []string{"differs"}},
		{name: "Basic and post client ids inconsistent", req: postForm("", form("grant_type", "client_credentials", "client_id", e.basicClient.AppID, "scope", "api://orders/.default"), "Authorization", basic(e.secretClient.AppID, e.secret)),
			status: 400, err: "invalid_request", code: 9002313},
		{name: "Basic and assertion together", req: postForm("", e.assertionForm(cert, replayed), "Authorization", basic(cert, "x")),
			status: 400, err: "invalid_request", code: 9002313},
		{name: "Basic with wrong secret answers WWW-Authenticate", req: postForm("", form("grant_type", "client_credentials", "scope", "api://orders/.default"), "Authorization", basic(e.secretClient.AppID, "nope")),
			status: 401, err: "invalid_client", code: 7000215},
		{name: "two Authorization headers", req: func(t *testing.T) *http.Request {
			r := postForm("", form("grant_type", "client_credentials", "scope", "api://orders/.default"), "Authorization", basic(e.secretClient.AppID, e.secret))(t)
			r.Header.Add("Authorization", basic(e.basicClient.AppID, "guess"))
			return r
		}, status: 400, err: "invalid_request", code: 9002313, message: []string{"2 Authorization headers"}},
		{name: "malformed Basic header", req: postForm("", form("grant_type", "client_credentials", "scope", "api://orders/.default"), "Authorization", "Basic !!!"),
			status: 400, err: "invalid_request", code: 9002313, message: []string{"not base64"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			req := tc.req(t)
			corr := guid()
			req.Header.Set("Client-Request-Id", corr)
			r := e.do(t, req)
			if r.Status != tc.status || r.Error != tc.err || len(r.Codes) != 1 || r.Codes[0] != tc.code {
				t.Fatalf("got %d %q %v; want %d %q [%d]\n%s", r.Status, r.Error, r.Codes, tc.status, tc.err, tc.code, r.Desc)
			}
			for _, m := range tc.message {
				if !strings.Contains(r.Desc, m) {
					t.Errorf("error_description lacks %q:\n%s", m, r.Desc)
				}
			}
			for _, m := range tc.absent {
				if strings.Contains(r.Desc, m) {
					t.Errorf("error_description contains %q:\n%s", m, r.Desc)
				}
			}
			checkErrorShape(t, r, tc.code, corr, e.base)
			if strings.Contains(r.Raw, e.secret) || strings.Contains(r.Raw, e.expiredSecretText) {
				t.Errorf("the error body echoes a secret")
			}
			if tc.status == 401 && req.Header.Get("Authorization") != "" && r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 to a Basic-authenticated request without WWW-Authenticate")
			}
		})
	}
}

var descPattern = regexp.MustCompile(`^AADSTS(\d+): (?s:.+)\r\nTrace ID: ([0-9a-f-]{36})\r\nCorrelation ID: (\S+)\r\nTimestamp: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ)$`)

// checkErrorShape checks Entra's error body (msal-protocol.md §7).
func checkErrorShape(t *testing.T, r tokenResponse, code int, corr, base string) {
	t.Helper()
	m := descPattern.FindStringSubmatch(r.Desc)
	if m == nil {
		t.Fatalf("error_description not in Entra's shape: %q", r.Desc)
	}
	if m[1] != strconv.Itoa(code) || m[2] != r.TraceID || m[3] != r.CorrID || m[4] != r.Timestamp {
		t.Errorf("description fields %q disagree with body %+v", m[1:], r)
	}
	if r.CorrID != corr {
		t.Errorf("correlation_id %q; want the client-request-id %q", r.CorrID, corr)
	}
	if r.ErrorURI != fmt.Sprintf("%s/error?code=%d", base, code) {
		t.Errorf("error_uri = %q", r.ErrorURI)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestToken_FailedAuthenticationIsRateLimitedPerClient(t *testing.T) {
	e := newEnv(t, func(c *sts.Config) {
		c.FailedAuthPerClient = sts.RateLimit{Every: time.Minute, Burst: 3}
	})
	bad := e.secretForm(e.secretClient, "Wro~ng")
	for i := 0; i < 3; i++ {
		if r := e.post(t, "", bad, nil); r.Status != 401 {
			t.Fatalf("attempt %d: %d %s", i+1, r.Status, r.Raw)
		}
	}
	// Over the budget, a wrong credential gets 429 (no detail for guessing)…
	r := e.post(t, "", bad, nil)
	if r.Status != http.StatusTooManyRequests || r.Codes[0] != sts.CodeTooManyFailedAttempts {
		t.Fatalf("4th failure: %d %s; want 429", r.Status, r.Raw)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After = %q; want 1..60 seconds", r.Header.Get("Retry-After"))
	}
	// …but the owner of the right credential is not locked out by whoever
	// keeps failing with its client id.
	if r := e.post(t, "", e.secretForm(e.secretClient, e.secret), nil); r.Status != http.StatusOK {
		t.Fatalf("valid secret while the client id is over its failure budget: %d %s; want 200", r.Status, r.Raw)
	}
	// Other clients are not affected.
	if r := e.post(t, "", e.secretForm(e.basicClient, e.basicSecret), nil); r.Status != 200 {
		t.Fatalf("another client: %d %s", r.Status, r.Raw)
	}
	e.clock.Advance(time.Minute)
	if r := e.post(t, "", bad, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("after the bucket refilled: %d %s; want the detailed 401 again", r.Status, r.Raw)
	}
}

func TestToken_FailedAuthenticationIsRateLimitedPerSource(t *testing.T) {
	e := newEnv(t, func(c *sts.Config) {
		c.FailedAuthPerSource = sts.RateLimit{Every: time.Hour, Burst: 2}
	})
	for i := 0; i < 2; i++ {
		if r := e.post(t, "", with(e.secretForm(e.resource, "x"), "client_id", guid()), nil); r.Status != 400 {
			t.Fatalf("attempt %d: %d %s", i+1, r.Status, r.Raw)
		}
	}
	r := e.post(t, "", e.secretForm(e.secretClient, e.secret), nil)
	if r.Status != http.StatusTooManyRequests || r.Error != "temporarily_unavailable" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after 2 failures from one address: %d %s %v", r.Status, r.Raw, r.Header)
	}
}

// with returns a copy of v with the given keys set.
func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}
