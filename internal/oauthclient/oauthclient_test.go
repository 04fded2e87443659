package oauthclient

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/pki"
)

// tokenEndpoint is a small real token endpoint on 127.0.0.1 over TLS that
// records the requests it gets and answers with a programmable response.
type tokenEndpoint struct {
	url    string
	client *http.Client

	mu       sync.Mutex
	requests []recorded
	status   int
	body     string
	header   http.Header
}

type recorded struct {
	contentType string
	form        url.Values
}

func startTokenEndpoint(t *testing.T) *tokenEndpoint {
	t.Helper()
	now := time.Now()
	ca, caKey, err := pki.NewCA("test CA", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, key, err := pki.NewServerCertificate(ca, caKey, []string{"127.0.0.1"}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	te := &tokenEndpoint{status: http.StatusOK, body: `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ.test.token"}`}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /tenant-1/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		te.mu.Lock()
		te.requests = append(te.requests, recorded{contentType: r.Header.Get("Content-Type"), form: r.PostForm})
		status, body, header := te.status, te.body, te.header
		te.mu.Unlock()
		for k, v := range header {
			w.Header()[k] = v
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	})
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	te.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	te.url = "https://" + ln.Addr().String() + "/tenant-1/oauth2/v2.0/token"
	return te
}

func (te *tokenEndpoint) respond(status int, body string, header http.Header) {
	te.mu.Lock()
	defer te.mu.Unlock()
	te.status, te.body, te.header = status, body, header
}

func (te *tokenEndpoint) last(t *testing.T) recorded {
	t.Helper()
	te.mu.Lock()
	defer te.mu.Unlock()
	if len(te.requests) == 0 {
		t.Fatal("the token endpoint got no request")
	}
	return te.requests[len(te.requests)-1]
}

func newCertCredential(t *testing.T, kt pki.KeyType) (Credential, *x509.Certificate) {
	t.Helper()
	key, err := pki.GenerateKey(kt)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.SelfSigned(pkix.Name{CommonName: "client " + string(kt)}, key, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := CertificateCredential(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return cred, cert
}

func TestRequestToken_SecretIsSentAsClientSecretPost(t *testing.T) {
	te := startTokenEndpoint(t)
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := &Client{HTTPClient: te.client, Now: func() time.Time { return fixed }}
	tok, err := c.RequestToken(context.Background(), te.url, "client-1", SecretCredential(NewSecret("s3cr3t~value")), "api://orders/.default")
	if err != nil {
		t.Fatalf("RequestToken: %v", err)
	}
	if tok.AccessToken != "eyJ.test.token" || tok.TokenType != "Bearer" || tok.ExpiresIn != 3599 {
		t.Errorf("token = %+v", tok)
	}
	if want := fixed.Add(3599 * time.Second); !tok.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %s, want %s", tok.ExpiresAt, want)
	}
	if !strings.Contains(string(tok.Raw), `"ext_expires_in":3599`) {
		t.Errorf("Raw = %s, want the full response", tok.Raw)
	}
	if strings.Contains(tok.String(), "eyJ") {
		t.Errorf("Token.String() shows the access token: %s", tok)
	}
	got := te.last(t)
	if got.contentType != "application/x-www-form-urlencoded; charset=utf-8" {
		t.Errorf("Content-Type = %q", got.contentType)
	}
	want := url.Values{"grant_type": {"client_credentials"}, "client_id": {"client-1"}, "client_secret": {"s3cr3t~value"}, "scope": {"api://orders/.default"}}
	if fmt.Sprint(got.form) != fmt.Sprint(want) {
		t.Errorf("form = %v, want %v", got.form, want)
	}
}

func TestRequestToken_CertificateSendsMSALShapedAssertion(t *testing.T) {
	for _, tc := range []struct {
		name    string
		keyType pki.KeyType
		alg     string
	}{
		{"rsa2048 uses PS256", pki.KeyTypeRSA2048, "PS256"},
		{"ec256 uses ES256", pki.KeyTypeEC256, "ES256"},
		{"ec384 uses ES384", pki.KeyTypeEC384, "ES384"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := startTokenEndpoint(t)
			cred, cert := newCertCredential(t, tc.keyType)
			now := time.Now().Truncate(time.Second)
			c := &Client{HTTPClient: te.client, Now: func() time.Time { return now }}
			if _, err := c.RequestToken(context.Background(), te.url, "client-2", cred, "api://orders/.default"); err != nil {
				t.Fatalf("RequestToken: %v", err)
			}
			form := te.last(t).form
			if form.Get("client_secret") != "" {
				t.Error("client_secret sent with a certificate credential")
			}
			if form.Get("client_assertion_type") != ClientAssertionType || form.Get("client_id") != "client-2" || form.Get("grant_type") != "client_credentials" {
				t.Errorf("form = %v", form)
			}
			assertion := form.Get("client_assertion")

			// The header, exactly: alg, typ and x5t#S256, nothing else.
			hdrJSON, err := base64.RawURLEncoding.DecodeString(strings.Split(assertion, ".")[0])
			if err != nil {
				t.Fatal(err)
			}
			var hdr map[string]any
			if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(cert.Raw)
			wantHdr := map[string]any{"alg": tc.alg, "typ": "JWT", "x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}
			if fmt.Sprint(hdr) != fmt.Sprint(wantHdr) {
				t.Errorf("header = %v, want %v", hdr, wantHdr)
			}

			// The signature verifies with the certificate's public key.
			claims := jwt.MapClaims{}
			_, err = jwt.ParseWithClaims(assertion, claims, func(tok *jwt.Token) (any, error) {
				switch cert.PublicKey.(type) {
				case *rsa.PublicKey, *ecdsa.PublicKey:
					return cert.PublicKey, nil
				}
				return nil, errors.New("unexpected key")
			}, jwt.WithValidMethods([]string{tc.alg}), jwt.WithTimeFunc(func() time.Time { return now }))
			if err != nil {
				t.Fatalf("assertion does not verify: %v", err)
			}
			if claims["aud"] != te.url || claims["iss"] != "client-2" || claims["sub"] != "client-2" {
				t.Errorf("aud/iss/sub = %v/%v/%v", claims["aud"], claims["iss"], claims["sub"])
			}
			if claims["nbf"] != float64(now.Unix()) || claims["exp"] != float64(now.Add(10*time.Minute).Unix()) {
				t.Errorf("nbf/exp = %v/%v, want %d/%d", claims["nbf"], claims["exp"], now.Unix(), now.Add(10*time.Minute).Unix())
			}
			if _, ok := claims["iat"]; ok {
				t.Error("assertion has iat; MSAL Go sends none")
			}
			if jti, _ := claims["jti"].(string); len(jti) != 36 {
				t.Errorf("jti = %v, want a UUID", claims["jti"])
			}
			if len(claims) != 6 {
				t.Errorf("claims = %v, want exactly aud, iss, sub, jti, nbf, exp", claims)
			}
		})
	}
}

func TestRequestToken_AssertionJTIIsFreshEachTime(t *testing.T) {
	te := startTokenEndpoint(t)
	cred, _ := newCertCredential(t, pki.KeyTypeEC256)
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		if _, err := RequestToken(context.Background(), te.client, te.url, "c", cred, "s/.default"); err != nil {
			t.Fatal(err)
		}
		tok, _, err := jwt.NewParser().ParseUnverified(te.last(t).form.Get("client_assertion"), jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		jti := tok.Claims.(jwt.MapClaims)["jti"].(string)
		if seen[jti] {
			t.Fatalf("jti %s reused", jti)
		}
		seen[jti] = true
	}
}

func TestRequestToken_ErrorResponses(t *testing.T) {
	const secret = "super-secret-value"
	entraBody := `{"correlation_id":"b1b02aff-0000","error":"invalid_client","error_codes":[7000215],` +
		`"error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 7f46\r\nCorrelation ID: b1b02aff-0000\r\nTimestamp: 2026-11-23 23:15:47Z",` +
		`"error_uri":"https://host/error?code=7000215","timestamp":"2026-11-23 23:15:47Z","trace_id":"7f46"}`
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		header    http.Header
		wantTyped *Error
		wantMsg   string
	}{
		{
			name: "Entra invalid_client", status: 401, body: entraBody,
			wantTyped: &Error{StatusCode: 401, Code: "invalid_client", ErrorCodes: []int{7000215}, CorrelationID: "b1b02aff-0000", TraceID: "7f46"},
			wantMsg:   "token request refused: invalid_client: AADSTS7000215: Invalid client secret provided. (HTTP 401)",
		},
		{
			name: "error without description", status: 400, body: `{"error":"invalid_scope"}`,
			wantTyped: &Error{StatusCode: 400, Code: "invalid_scope"},
			wantMsg:   "token request refused: invalid_scope (HTTP 400)",
		},
		{
			name: "HTTP 200 carrying an error", status: 200, body: `{"error":"server_error","error_description":"boom"}`,
			wantTyped: &Error{StatusCode: 200, Code: "server_error"},
			wantMsg:   "server_error: boom",
		},
		{
			name: "server echoing the secret is scrubbed", status: 401,
			body:      `{"error":"invalid_client","error_description":"bad secret ` + secret + `"}`,
			wantTyped: &Error{StatusCode: 401, Code: "invalid_client"},
			wantMsg:   "bad secret [redacted]",
		},
		{
			name: "a short secret does not mangle the message", status: 400,
			body:      `{"error":"unauthorized_client","error_description":"not found in the directory"}`,
			wantTyped: &Error{StatusCode: 400, Code: "unauthorized_client"},
			wantMsg:   "not found in the directory",
		},
		{name: "non-JSON error page", status: 502, body: "<html>bad gateway</html>", header: http.Header{"Content-Type": {"text/html"}}, wantMsg: "HTTP 502 Bad Gateway without an OAuth error body"},
		{name: "redirect is not followed", status: 307, body: "", header: http.Header{"Location": {"https://elsewhere.example/token"}}, wantMsg: "HTTP 307"},
		{name: "missing access_token", status: 200, body: `{"token_type":"Bearer","expires_in":3599}`, wantMsg: "response has no access_token"},
		{name: "not JSON", status: 200, body: `oops`, wantMsg: "not a JSON token response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := startTokenEndpoint(t)
			te.respond(tc.status, tc.body, tc.header)
			sec := secret
			if strings.HasPrefix(tc.name, "a short secret") {
				sec = "y"
			}
			_, err := RequestToken(context.Background(), te.client, te.url, "client-1", SecretCredential(NewSecret(sec)), "api://x/.default")
			if err == nil {
				t.Fatal("RequestToken succeeded, want an error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error shows the secret: %v", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantMsg)
			}
			var oe *Error
			if tc.wantTyped == nil {
				if errors.As(err, &oe) {
					t.Errorf("got *Error %+v, want a plain error", oe)
				}
				return
			}
			if !errors.As(err, &oe) {
				t.Fatalf("error %T is not *Error", err)
			}
			if oe.StatusCode != tc.wantTyped.StatusCode || oe.Code != tc.wantTyped.Code ||
				fmt.Sprint(oe.ErrorCodes) != fmt.Sprint(tc.wantTyped.ErrorCodes) ||
				oe.CorrelationID != tc.wantTyped.CorrelationID || oe.TraceID != tc.wantTyped.TraceID {
				t.Errorf("error = %+v, want %+v", oe, tc.wantTyped)
			}
		})
	}
}

func TestRequestToken_ExpiresInAsStringOrExpiresOn(t *testing.T) {
	fixed := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		body string
		want time.Time
	}{
		{"string expires_in", `{"access_token":"a","expires_in":"3599"}`, fixed.Add(3599 * time.Second)},
		{"expires_on only", fmt.Sprintf(`{"access_token":"a","expires_on":%d}`, fixed.Add(time.Hour).Unix()), fixed.Add(time.Hour)},
		{"no expiry", `{"access_token":"a"}`, time.Time{}},
		// 2^40 seconds overflows time.Duration: it must not wrap into the past.
		{"expires_in beyond time.Duration is ignored", `{"access_token":"a","expires_in":1099511627776}`, time.Time{}},
		{"huge expires_in falls back to expires_on", fmt.Sprintf(`{"access_token":"a","expires_in":"99999999999","expires_on":%d}`, fixed.Add(time.Hour).Unix()), fixed.Add(time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := startTokenEndpoint(t)
			te.respond(200, tc.body, nil)
			c := &Client{HTTPClient: te.client, Now: func() time.Time { return fixed }}
			tok, err := c.RequestToken(context.Background(), te.url, "c", SecretCredential(NewSecret("s")), "x/.default")
			if err != nil {
				t.Fatal(err)
			}
			if !tok.ExpiresAt.Equal(tc.want) {
				t.Errorf("ExpiresAt = %s, want %s", tok.ExpiresAt, tc.want)
			}
			if tok.TokenType != "Bearer" {
				t.Errorf("TokenType = %q, want the Bearer default", tok.TokenType)
			}
		})
	}
}

func TestRequestToken_RefusesMissingInputs(t *testing.T) {
	for _, tc := range []struct {
		name, url, client, scope string
		cred                     Credential
		want                     string
	}{
		{"no credential", "https://x/t", "c", "s", Credential{}, "no credential"},
		{"no client id", "https://x/t", "", "s", SecretCredential(NewSecret("x")), "no client id"},
		{"no scope", "https://x/t", "c", "", SecretCredential(NewSecret("x")), "no scope"},
		{"no URL", "", "c", "s", SecretCredential(NewSecret("x")), "no token endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RequestToken(context.Background(), nil, tc.url, tc.client, tc.cred, tc.scope)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCertificateCredential_RefusesMismatchedKey(t *testing.T) {
	_, cert := newCertCredential(t, pki.KeyTypeEC256)
	other, err := pki.GenerateKey(pki.KeyTypeEC256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CertificateCredential(cert, other); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("error = %v, want a key mismatch error", err)
	}
	if _, err := CertificateCredential(nil, other); err == nil {
		t.Error("nil certificate accepted")
	}
	var _ crypto.Signer = other
}

func TestToken_NeverPrintsTheAccessToken(t *testing.T) {
	const at = "eyJhbGciOiJSUzI1NiJ9.secret-claims.signature"
	tok := Token{AccessToken: at, TokenType: "Bearer", ExpiresIn: 60, ExpiresAt: time.Unix(1900000000, 0)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, tok); strings.Contains(out, "secret-claims") {
			t.Errorf("%s prints the access token: %s", verb, out)
		}
	}
}

func TestSecret_NeverPrints(t *testing.T) {
	const text = "hunter2-secret"
	s := NewSecret(text)
	holder := struct {
		Exported Secret
		hidden   Secret
		cred     Credential
	}{s, s, SecretCredential(s)}
	js, err := json.Marshal(struct{ S Secret }{s})
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"%v":          fmt.Sprintf("%v", s),
		"%s":          fmt.Sprintf("%s", s),
		"%q":          fmt.Sprintf("%q", s),
		"%#v":         fmt.Sprintf("%#v", s),
		"%x":          fmt.Sprintf("%x", s),
		"struct %+v":  fmt.Sprintf("%+v", holder),
		"struct %#v":  fmt.Sprintf("%#v", holder),
		"credential":  fmt.Sprintf("%+v %s %#v", SecretCredential(s), SecretCredential(s), SecretCredential(s)),
		"JSON":        string(js),
		"String":      s.String(),
		"error wrapd": fmt.Errorf("x: %v", s).Error(),
	} {
		if strings.Contains(out, text) {
			t.Errorf("%s prints the secret: %s", name, out)
		}
	}
	if s.Reveal() != text {
		t.Errorf("Reveal = %q", s.Reveal())
	}
	var back struct{ S Secret }
	if err := json.Unmarshal([]byte(`{"S":"from-file"}`), &back); err != nil || back.S.Reveal() != "from-file" {
		t.Errorf("UnmarshalJSON: %v, %q", err, back.S.Reveal())
	}
}
