package sts_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/sts"
)

// fuzzRequest builds a request the way net/http's server hands one to a
// handler, with a path no client library would produce.
func fuzzRequest(method, path, host, remote string, body string) *http.Request {
	return &http.Request{
		Method: method, URL: &url.URL{Path: path}, Host: host, RemoteAddr: remote,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
	}
}

// answeredByMux reports whether the ServeMux answered (a redirect to the
// clean path, no route, wrong method) before any handler of the service.
func answeredByMux(w *discardWriter) bool {
	switch w.status {
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusNotFound, http.StatusMethodNotAllowed:
		return !strings.HasPrefix(w.h.Get("Content-Type"), "application/json")
	}
	return false
}

// checkEntraError checks that a refusal is Entra's JSON error shape.
func checkEntraError(t *testing.T, w *discardWriter) {
	t.Helper()
	var body struct {
		Error string `json:"error"`
		Desc  string `json:"error_description"`
		Codes []int  `json:"error_codes"`
		Trace string `json:"trace_id"`
		Corr  string `json:"correlation_id"`
	}
	if err := json.Unmarshal(w.body, &body); err != nil {
		t.Fatalf("status %d with a body that is not JSON: %v\n%q", w.status, err, w.body)
	}
	if body.Error == "" || len(body.Codes) != 1 || body.Trace == "" || body.Corr == "" || !descPattern.MatchString(body.Desc) {
		t.Fatalf("status %d with a body not in Entra's error shape: %s", w.status, w.body)
	}
	if ct := w.h.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("error Content-Type %q", ct)
	}
}

// FuzzTokenHandler drives the whole token endpoint through the mux: tenant
// segment, body, Content-Type, Authorization, Client-Request-Id and the
// peer address (the limiters are on and keep their state across inputs).
// Client input never causes a 5xx or a panic; every answer is a token or
// Entra's JSON error.
func FuzzTokenHandler(f *testing.F) {
	e := newEnvNoTLS(f, func(c *sts.Config) {
		c.FailedAuthPerClient = sts.RateLimit{Every: time.Minute, Burst: 5}
		c.FailedAuthPerSource = sts.RateLimit{Every: time.Minute, Burst: 50}
		c.MaxBodyBytes = 8 << 10
	})
	e.base = "https://sts.example"
	const form = "application/x-www-form-urlencoded"
	hdr := map[string]any{"x5t#S256": pki.X5TS256(e.rsaCert)}
	assertion := e.assertion(f, jwt.SigningMethodPS256, clientRSA, hdr, e.certClient.AppID, nil)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(e.secretClient.AppID)+":"+url.QueryEscape(e.secret)))
	f.Add(e.tenant.ID, form, "", e.secretForm(e.secretClient, e.secret).Encode(), "", "192.0.2.1:1")
	f.Add("CONTOSO", form+"; charset=utf-8", basic, "grant_type=client_credentials&scope=api%3A%2F%2Forders%2F.default", guid(), "[2001:db8::1]:443")
	f.Add(e.tenant.ID, form, "", e.assertionForm(e.certClient.AppID, assertion).Encode(), "x", "192.0.2.2:1")
	f.Add(e.tenant.ID, form, "", e.assertionForm("", assertion+"=").Encode(), "", "192.0.2.2:1")
	f.Add(e.tenant.ID, form, "Basic !!!", "grant_type=client_credentials", "", "bad-remote")
	f.Add(e.tenant.ID, form, "", "grant_type=client_credentials&client_id="+strings.Repeat("x", 300)+"&client_secret=s&scope=x%2F.default", "", "192.0.2.3:1")
	f.Add(e.tenant.ID, form, "", "grant_type=client_credentials&client_id="+guid()+"&client_secret=s&scope=x%2F.default", "", "192.0.2.3:1")
	f.Add("nosuchtenant", "application/json", "Bearer x", `{"grant_type":"client_credentials"}`, "", "")
	f.Add(e.tenant.ID, form, "", "%zz&;", strings.Repeat("a", 70), "192.0.2.4:1")
	f.Add("", "", "", "", "", "")
	f.Add(e.tenant.ID+"/..", form, "", "", "", "")
	f.Fuzz(func(t *testing.T, tenant, contentType, authorization, body, requestID, remote string) {
		r := fuzzRequest(http.MethodPost, "/"+tenant+"/oauth2/v2.0/token", "sts.example", remote, body)
		r.Header.Set("Content-Type", contentType)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if requestID != "" {
			r.Header.Set("Client-Request-Id", requestID)
		}
		w := &discardWriter{h: http.Header{}, keep: true}
		e.mux.ServeHTTP(w, r)
		if answeredByMux(w) {
			return
		}
		if w.status >= 500 {
			t.Fatalf("status %d for client input: %s", w.status, w.body)
		}
		if w.status == http.StatusOK {
			var tok struct {
				Type  string `json:"token_type"`
				Token string `json:"access_token"`
			}
			if err := json.Unmarshal(w.body, &tok); err != nil || tok.Type != "Bearer" || strings.Count(tok.Token, ".") != 2 {
				t.Fatalf("200 without a token: %s", w.body)
			}
			return
		}
		checkEntraError(t, w)
	})
}

// FuzzAssertionSignature mutates client assertions that a registered
// certificate really signed (RS256, PS256, ES256, ES384) and checks them
// against that certificate: only an unchanged header and payload may
// authenticate (the signature of an ECDSA assertion has a second valid
// spelling, n−s; the jti still allows one use), and every refusal is a
// complete 400 or 401.
func FuzzAssertionSignature(f *testing.F) {
	e := newEnvNoTLS(f)
	e.base = "https://sts.example"
	ctx := context.Background()
	signed := map[string]bool{} // header.payload of the seeds
	seed := func(m jwt.SigningMethod, key any, client string, hdr map[string]any) {
		a := e.assertion(f, m, key, hdr, client, nil)
		signed[a[:strings.LastIndexByte(a, '.')]] = true
		f.Add(a)
	}
	seed(jwt.SigningMethodRS256, clientRSA, e.certClient.AppID, map[string]any{"x5t": pki.X5T(e.rsaCert)})
	seed(jwt.SigningMethodPS256, clientRSA, e.certClient.AppID, map[string]any{"x5t#S256": pki.X5TS256(e.rsaCert)})
	seed(jwt.SigningMethodES256, clientEC, e.ecClient.AppID, map[string]any{"x5t#S256": pki.X5TS256(e.ecCert)})
	seed(jwt.SigningMethodES384, clientEC384, e.ecClient.AppID, map[string]any{"x5t": pki.X5T(e.ec384Cert)})
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := e.srv.AuthenticateClient(ctx, sts.ClientAuthentication{
			Tenant: e.tenant.ID, BaseURL: e.base, Method: sts.MethodPrivateKeyJWT, Assertion: sts.Secret(raw), Source: "192.0.2.9",
		})
		if err != nil {
			if (err.Status != 400 && err.Status != 401) || err.Code == 0 || err.OAuthError == "" || err.Message == "" {
				t.Fatalf("incomplete refusal %+v", err)
			}
			return
		}
		i := strings.LastIndexByte(raw, '.')
		if i < 0 || !signed[raw[:i]] {
			t.Fatalf("an assertion the certificate did not sign authenticated %s: %q", c.Application.AppID, raw)
		}
	})
}

// FuzzDiscoveryJWKS serves discovery and the JWKS for arbitrary tenant
// segments and Host headers (issuers are derived from Host when no public
// URL is configured): the answer is the tenant's document, whose issuer
// the in-process key source accepts, or Entra's error.
func FuzzDiscoveryJWKS(f *testing.F) {
	e := newEnvNoTLS(f)
	ctx := context.Background()
	f.Add(e.tenant.ID, "sts.example", false)
	f.Add("Contoso", "127.0.0.1:8443", true)
	f.Add(e.tenant.ID, "", true)
	f.Add("nosuch", "h", false)
	f.Add(e.tenant.ID, "a/b", true)
	f.Add(e.tenant.ID, "\"quoted\"\n", false)
	f.Add("%2e%2e", "[::1]:1", true)
	f.Fuzz(func(t *testing.T, tenant, host string, jwks bool) {
		if !validHostHeader(host) {
			return // net/http answers 400 before any handler
		}
		path := "/" + tenant + "/v2.0/.well-known/openid-configuration"
		if jwks {
			path = "/" + tenant + "/discovery/v2.0/keys"
		}
		w := &discardWriter{h: http.Header{}, keep: true}
		e.mux.ServeHTTP(w, fuzzRequest(http.MethodGet, path, host, "192.0.2.1:1", ""))
		if answeredByMux(w) {
			return
		}
		if w.status != http.StatusOK {
			if w.status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", w.status, w.body)
			}
			checkEntraError(t, w)
			return
		}
		issuer := "https://" + host + "/" + e.tenant.ID + "/v2.0"
		if !jwks {
			var doc struct {
				Issuer        string `json:"issuer"`
				TokenEndpoint string `json:"token_endpoint"`
				JWKSURI       string `json:"jwks_uri"`
			}
			if err := json.Unmarshal(w.body, &doc); err != nil {
				t.Fatalf("discovery is not JSON: %v", err)
			}
			if doc.Issuer != issuer || doc.TokenEndpoint != "https://"+host+"/"+e.tenant.ID+"/oauth2/v2.0/token" {
				t.Fatalf("discovery for host %q: issuer %q, token endpoint %q", host, doc.Issuer, doc.TokenEndpoint)
			}
			return
		}
		var set struct {
			Keys []struct{ Kty, Kid, N, E, Issuer string }
		}
		if err := json.Unmarshal(w.body, &set); err != nil || len(set.Keys) == 0 {
			t.Fatalf("JWKS %s: %v", w.body, err)
		}
		for _, k := range set.Keys {
			if k.Kty != "RSA" || k.Kid == "" || k.Issuer != issuer {
				t.Fatalf("key %+v", k)
			}
			if _, err := base64.RawURLEncoding.Strict().DecodeString(k.N); err != nil {
				t.Fatalf("n is not base64url: %v", err)
			}
			// The issuer a resource server learns here leads the in-process
			// key source to the same key, when it can be an issuer at all.
			if host != "" && !strings.Contains(host, "/") {
				if _, err := e.srv.Key(ctx, issuer, k.Kid); err != nil {
					t.Fatalf("Key(%q, %q): %v", issuer, k.Kid, err)
				}
			}
		}
	})
}

// validHostHeader is the byte set net/http accepts in a Host header
// (golang.org/x/net/http/httpguts.ValidHostHeader).
func validHostHeader(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
