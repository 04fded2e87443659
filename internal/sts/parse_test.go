package sts

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(user)+":"+url.QueryEscape(pass)))
}

func TestParseTokenRequest(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	base := "grant_type=client_credentials&scope=api%3A%2F%2Fx%2F.default"
	cases := []struct {
		name, ct, body, auth string
		wantCode             int
		wantMethod, wantID   string
		wantSecret           string
	}{
		{name: "post", ct: form + "; charset=utf-8", body: base + "&client_id=a&client_secret=Sekr1t", wantMethod: MethodSecretPost, wantID: "a", wantSecret: "Sekr1t"},
		{name: "basic URL-decodes id and secret", ct: form, body: base, auth: basicHeader("a b", "p+s/:%~"), wantMethod: MethodSecretBasic, wantID: "a b", wantSecret: "p+s/:%~"},
		{name: "basic scheme any case", ct: form, body: base, auth: "bAsIc " + base64.StdEncoding.EncodeToString([]byte("a:Sekr1t")), wantMethod: MethodSecretBasic, wantID: "a", wantSecret: "Sekr1t"},
		{name: "basic and consistent post", ct: form, body: base + "&client_id=a&client_secret=Sekr1t", auth: basicHeader("a", "Sekr1t"), wantMethod: MethodSecretBasic, wantID: "a", wantSecret: "Sekr1t"},
		{name: "basic without secret", ct: form, body: base, auth: basicHeader("a", ""), wantMethod: MethodNone, wantID: "a"},
		{name: "bearer header ignored", ct: form, body: base + "&client_id=a&client_secret=Sekr1t", auth: "Bearer xyz", wantMethod: MethodSecretPost, wantID: "a", wantSecret: "Sekr1t"},
		{name: "assertion without client_id", ct: form, body: base + "&client_assertion=x.y.z&client_assertion_type=" + url.QueryEscape(assertionTypeJWT), wantMethod: MethodPrivateKeyJWT},
		{name: "no credential", ct: form, body: base + "&client_id=a", wantMethod: MethodNone, wantID: "a"},
		{name: "json body", ct: "application/json", body: `{}`, wantCode: CodeMissingParameter},
		{name: "no content type", ct: "", body: base, wantCode: CodeMissingParameter},
		{name: "bad escape", ct: form, body: base + "&client_id=%zz", wantCode: CodeMalformedRequest},
		{name: "semicolon", ct: form, body: base + ";client_id=a", wantCode: CodeMalformedRequest},
		{name: "duplicate grant_type", ct: form, body: base + "&grant_type=client_credentials", wantCode: CodeMalformedRequest},
		{name: "password grant", ct: form, body: "grant_type=password&client_id=a", wantCode: CodeUnsupportedGrantType},
		{name: "basic not base64", ct: form, body: base, auth: "Basic %%%", wantCode: CodeMalformedRequest},
		{name: "basic without colon", ct: form, body: base, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("abc")), wantCode: CodeMalformedRequest},
		{name: "basic bad escape", ct: form, body: base, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("a%g:s")), wantCode: CodeMalformedRequest},
		{name: "secret and assertion", ct: form, body: base + "&client_id=a&client_secret=s&client_assertion=x", wantCode: CodeMalformedRequest},
		{name: "assertion without type", ct: form, body: base + "&client_assertion=x", wantCode: CodeMissingParameter},
		{name: "missing scope", ct: form, body: "grant_type=client_credentials&client_id=a&client_secret=s", wantCode: CodeMissingParameter},
		{name: "blank scope", ct: form, body: "grant_type=client_credentials&client_id=a&client_secret=s&scope=+", wantCode: CodeMissingParameter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, e := parseTokenRequest(tc.ct, []byte(tc.body), tc.auth)
			if tc.wantCode != 0 {
				if e == nil || e.Code != tc.wantCode {
					t.Fatalf("err = %v; want AADSTS%d", e, tc.wantCode)
				}
				return
			}
			if e != nil {
				t.Fatalf("err = %v", e)
			}
			if req.AuthMethod != tc.wantMethod || req.ClientID != tc.wantID || string(req.ClientSecret) != tc.wantSecret {
				t.Fatalf("got method %q id %q secret %q", req.AuthMethod, req.ClientID, string(req.ClientSecret))
			}
			if s := fmt.Sprintf("%v %+v %#v", req, req, req); strings.Contains(s, tc.wantSecret) && tc.wantSecret != "" {
				t.Errorf("formatting the request prints the secret: %s", s)
			}
		})
	}
}

func TestResourceFromScope(t *testing.T) {
	cases := []struct {
		scope, resource string
		code            int
		example         string
	}{
		{scope: "api://x/.default openid offline_access profile", resource: "api://x"},
		{scope: "  API://X/.DEFAULT  email", resource: "API://X"},
		{scope: "00000000-0000-0000-0000-000000000001/.default", resource: "00000000-0000-0000-0000-000000000001"},
		{scope: "https://graph.microsoft.com//.default", resource: "https://graph.microsoft.com/"},
		{scope: "api://x/Read", code: CodeScopeNotDefault, example: "'api://x/.default'"},
		{scope: "api://x", code: CodeScopeNotDefault, example: "'api://x/.default'"},
		{scope: "api://x/", code: CodeScopeNotDefault, example: "'api://x/.default'"},
		{scope: "0c4d5e6f", code: CodeScopeNotDefault, example: "'0c4d5e6f/.default'"},
		{scope: "openid", code: CodeScopeNotDefault, example: "api://<resource>/.default"},
		{scope: "a/.default b/.default", code: CodeInvalidScope},
		{scope: "/.default", code: CodeInvalidScope},
		{scope: ".default", code: CodeInvalidScope},
	}
	for _, tc := range cases {
		t.Run(tc.scope, func(t *testing.T) {
			res, e := resourceFromScope(tc.scope)
			if tc.code == 0 {
				if e != nil || res != tc.resource {
					t.Fatalf("= %q, %v; want %q", res, e, tc.resource)
				}
				return
			}
			if e == nil || e.Code != tc.code || e.OAuthError != "invalid_scope" || !strings.Contains(e.Message, tc.example) {
				t.Fatalf("err = %v; want AADSTS%d mentioning %s", e, tc.code, tc.example)
			}
		})
	}
}

func TestReplayCache_RefusesReuseUntilExpiryAndStaysBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newReplayCache(3)
	if !c.add("app", "a", now.Add(time.Minute), now) {
		t.Fatal("first use refused")
	}
	if c.add("app", "a", now.Add(time.Minute), now.Add(30*time.Second)) {
		t.Fatal("replay within the lifetime accepted")
	}
	if !c.add("app", "a", now.Add(3*time.Minute), now.Add(time.Minute)) {
		t.Fatal("reuse after expiry refused")
	}
	for i := 0; i < 10; i++ {
		c.add("app", fmt.Sprint("k", i), now.Add(time.Hour), now.Add(time.Minute))
	}
	if len(c.seen) > 3 {
		t.Fatalf("cache holds %d entries; bound is 3", len(c.seen))
	}
	if c.add("app", "k9", now.Add(time.Hour), now.Add(2*time.Minute)) {
		t.Fatal("the newest entry was evicted")
	}
	// Long runs compact the queue.
	big := newReplayCache(1 << 20)
	for i := 0; i < 5000; i++ {
		at := now.Add(time.Duration(i) * time.Second)
		big.add("app", fmt.Sprint(i), at.Add(10*time.Second), at)
	}
	if len(big.queue)-big.head > 20 || len(big.queue) > 3000 {
		t.Fatalf("queue not pruned: len %d head %d", len(big.queue), big.head)
	}
}

var assertionSeeds = []string{
	// MSAL Go: PS256 with padded standard-base64 x5t#S256.
	"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCIsIng1dCNTMjU2IjoiYkxLWENCdUpJZ0p2MlJoNWVhN0pGTDRMaUJuclpjQTRoZDQ3cmxUdmhVaz0ifQ.eyJhdWQiOiJodHRwczovLzEyNy4wLjAuMTo0MzcwMS90L29hdXRoMi92Mi4wL3Rva2VuIiwiZXhwIjoxNzk1NDc2MzQ0LCJpc3MiOiJjIiwianRpIjoiaiIsIm5iZiI6MTc5NTQ3NTc0NCwic3ViIjoiYyJ9.c2ln",
	// RS256 with base64url x5t and an aud array, fractional dates.
	"eyJhbGciOiJSUzI1NiIsIng1dCI6ImdJTWZPNWt5MEpIY2pWYjdFNjNVZ1ZCOHdhZyJ9.eyJhdWQiOlsiYSIsImIiXSwiZXhwIjoxNzk1NDc2MzQ0LjUsImlhdCI6MTc5NTQ3NTc0NC4yNSwiaXNzIjoiYyIsInN1YiI6ImMiLCJqdGkiOiJqIn0.c2ln",
	"eyJhbGciOiJub25lIn0.eyJzdWIiOiJjIn0.",
	"eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
	"a.b.c", "..", "", "eyJ9.e30.AA", "e30.e30.e30",
	"eyJhbGciOiJFUzI1NiIsImtpZCI6IjgwQ0YwRDE1NDhGMDRBQUI5MUQ1NTNFNEQ2QTk3QTZERUZFNENFQkQifQ.eyJleHAiOiItMSJ9.AA",
	"eyJhbGciOiJQUzI1NiIsIng1dCNTMjU2IjoiKysrLy8vPT0iLCJjcml0IjpbImIiXX0.e30.AA",
}

func FuzzParseClientAssertion(f *testing.F) {
	for _, s := range assertionSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		a, e := parseClientAssertion(raw)
		if (a == nil) == (e == nil) {
			t.Fatalf("exactly one of assertion and error must be set: %v %v", a, e)
		}
		if e != nil {
			if e.Status != 401 || e.Code == 0 || e.OAuthError != "invalid_client" {
				t.Fatalf("error %+v is not a 401 invalid_client", e)
			}
			return
		}
		if !isAllowedAlgorithm(a.Header.Alg) || (len(a.Thumbprint) != 20 && len(a.Thumbprint) != 32) || len(a.Signature) == 0 {
			t.Fatalf("accepted %+v", a)
		}
		if !strings.HasPrefix(raw, a.SigningInput+".") {
			t.Fatalf("signing input %q is not the prefix of %q", a.SigningInput, raw)
		}
		// Verification against an unrelated key must fail, not panic.
		if verifySignature(a.Header.Alg, nil, a.SigningInput, a.Signature) == nil {
			t.Fatal("verified with no key")
		}
	})
}

func FuzzParseTokenRequest(f *testing.F) {
	const form = "application/x-www-form-urlencoded"
	f.Add(form, "grant_type=client_credentials&client_id=a&client_secret=s&scope=api%3A%2F%2Fx%2F.default+openid", "")
	f.Add(form+"; charset=utf-8", "grant_type=client_credentials&scope=x%2F.default", basicHeader("id", "p+w:%"))
	f.Add(form, "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="+assertionSeeds[0]+"&scope=x%2F.default&client_info=1", "")
	f.Add("application/json", `{"grant_type":"client_credentials"}`, "")
	f.Add(form, "grant_type=client_credentials&grant_type=x", "Basic Og==")
	f.Add(form, "%", "Basic ")
	f.Add("multipart/form-data; boundary=x", "", "Bearer x")
	f.Fuzz(func(t *testing.T, ct, body, auth string) {
		req, e := parseTokenRequest(ct, []byte(body), auth)
		if e != nil {
			if e.Status != 400 || e.Code == 0 || e.OAuthError == "" || e.Message == "" {
				t.Fatalf("error %+v is not a complete 400", e)
			}
			return
		}
		if req.GrantType != "client_credentials" || strings.TrimSpace(req.Scope) == "" {
			t.Fatalf("accepted %+v", req)
		}
		switch req.AuthMethod {
		case MethodSecretBasic, MethodSecretPost:
			if req.ClientID == "" || req.ClientSecret == "" {
				t.Fatalf("secret method without id or secret: %+v", req)
			}
		case MethodPrivateKeyJWT:
			if req.ClientAssertion == "" || req.ClientSecret != "" {
				t.Fatalf("assertion method: %+v", req)
			}
		case MethodNone:
			if req.ClientID == "" {
				t.Fatalf("no client id: %+v", req)
			}
		default:
			t.Fatalf("method %q", req.AuthMethod)
		}
	})
}

func TestReplayCache_AJTIIsPerApplication(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newReplayCache(10)
	if !c.add("11111111-1111-1111-1111-111111111111", "j", now.Add(time.Minute), now) {
		t.Fatal("first use refused")
	}
	if !c.add("22222222-2222-2222-2222-222222222222", "j", now.Add(time.Minute), now) {
		t.Fatal("another application's assertion with the same jti refused")
	}
	if c.add("11111111-1111-1111-1111-111111111111", "j", now.Add(time.Minute), now) {
		t.Fatal("replay accepted")
	}
}
