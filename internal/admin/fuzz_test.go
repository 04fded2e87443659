package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzBody posts body to path on e's mux (in process, for speed) and fails
// on a panic, a 5xx, or a response that is neither success nor the
// contract's error shape.
func fuzzBody(t *testing.T, e *env, path string, body []byte) {
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tokAdmin)
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body.Bytes())
	}
	if rec.Code == http.StatusCreated {
		return
	}
	var er errorResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Error.Code == "" || er.Error.Message == "" {
		t.Fatalf("status %d with a body that is not the error shape: %s", rec.Code, rec.Body.Bytes())
	}
}

func FuzzCreateApplicationBody(f *testing.F) {
	e := newEnv(f)
	for _, s := range []string{
		`{"displayName":"orders-api","identifierUris":["api://orders"],"accessTokenLifetimeSeconds":3600}`,
		`{"displayName":"x"}`,
		`{"displayName":"  "}`,
		`{"displayName":"a","identifierUris":["api://a#b","urn:x","https://h/p?q"]}`,
		`{"displayName":"a","identifierUris":null,"accessTokenLifetimeSeconds":1e400}`,
		`{"displayName":"a","accessTokenLifetimeSeconds":-9223372036854775808}`,
		`{"displayName":"\u0000\ud800"}`,
		`{"DisplayName":"a"}`,
		`{"displayName":"a"} trailing`,
		`[]`, `null`, `""`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, e, "/admin/v1/tenants/default/applications", body)
	})
}

func FuzzCreateKeyCredentialBody(f *testing.F) {
	e := newEnv(f)
	e.createApp("fuzz")
	c := newTestCert(f, "fuzz", testNow, 24*time.Hour, "pw")
	for _, b := range []map[string]any{
		{"certificate": b64(c.der)},
		{"certificate": b64(c.pem), "description": "pem"},
		{"certificate": b64(c.pfx), "password": "pw"},
		{"certificate": b64(c.pfx), "password": "wrong"},
		{"certificate": b64(c.der[:len(c.der)/2])},
		{"certificate": "////", "password": ""},
	} {
		js, _ := json.Marshal(b)
		f.Add(js)
	}
	for _, s := range []string{`{"certificate":null}`, `{"certificate":1}`, `{}`, `{"password":"x"}`, `{"certificate":"MA=="}`, `{"certificate":"MIIB"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, e, "/admin/v1/tenants/default/applications/fuzz/keyCredentials", body)
	})
}

// FuzzCreateFederatedIdentityCredentialBody drives the federated
// credential decoder and validation (issuer and JWKS URLs, a pasted JWK
// Set) with any body.
func FuzzCreateFederatedIdentityCredentialBody(f *testing.F) {
	e := newEnv(f)
	e.createApp("fuzz")
	for _, s := range []string{
		`{"name":"github-main","issuer":"https://token.actions.githubusercontent.com","subject":"repo:contoso/orders:ref:refs/heads/main"}`,
		`{"name":"k8s","issuer":"https://kubernetes.default.svc.cluster.local","subject":"system:serviceaccount:ns:sa","audiences":["api://AzureADTokenExchange"],"jwksUri":"https://k8s.test/openid/v1/jwks"}`,
		`{"name":"k8s-static","issuer":"https://oidc.test","subject":"s","keys":{"keys":[{"kty":"EC","kid":"k1","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}}`,
		`{"name":"dev","issuer":"http://127.0.0.1:9/x","subject":"s","description":"\u0000"}`,
		`{"name":"x","issuer":"https://u:p@i.test/?q#f","subject":" s","audiences":[]}`,
		`{"name":"xyz","issuer":"https://i.test","subject":"s","keys":[1]}`,
		`{"name":"xyz","issuer":"https://i.test","subject":"s","keys":{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"}]}}`,
		`{"name":null}`, `{}`, `null`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, e, "/admin/v1/tenants/default/applications/fuzz/federatedIdentityCredentials", body)
	})
}

// FuzzCreateGrantBody drives the directory service's reference resolution
// (appId, display name, identifier URI, role id or value) with any body.
func FuzzCreateGrantBody(f *testing.F) {
	e := newEnv(f)
	e.createApp("orders", "api://orders")
	e.createRole("orders", "Orders.Read")
	e.createApp("billing")
	for _, s := range []string{
		`{"client":"billing","resource":"api://orders","role":"Orders.Read"}`,
		`{"client":"BILLING","resource":"ORDERS","role":"orders.read"}`,
		`{"client":"billing","resource":"api://portcullis-management","role":"Portcullis.Admin"}`,
		`{"client":"00000000-0000-0000-0000-000000000000","resource":"x","role":"y"}`,
		`{"client":" ","resource":"","role":""}`,
		`{"client":"\u0000","resource":"\ud800","role":"…"}`,
		`{"client":1}`, `{}`, `null`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, e, "/admin/v1/tenants/default/grants", body)
	})
}

// FuzzCreateAPIBody drives the API body decoder (exact field names at every
// depth, read-only fields dropped) and the directory's API validation.
func FuzzCreateAPIBody(f *testing.F) {
	e := newEnv(f)
	good, _ := json.Marshal(apiBody("orders", "/orders"))
	f.Add(good)
	for _, s := range []string{
		`{"name":"a","match":{"pathPrefix":"/a"},"backend":{"urls":["http://h"]},"policy":{"methods":[{"type":"basic","users":[{"name":"u","password":"vault://kv1/secrets/p"}]}]}}`,
		`{"name":"b","match":{"pathPrefix":"/b","hosts":["*.x.com"]},"backend":{"urls":["https://h:1/p"],"tls":{"caCertificates":["-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----"]}},"policy":{"methods":[{"type":"clientCertificate","pins":[{"thumbprint":"00"}]}]}}`,
		`{"name":"c","match":{"pathPrefix":"/c"},"backend":{"urls":["http://h"],"timeouts":{"connectSeconds":1e400}},"policy":{"methods":[]}}`,
		`{"name":"d","match":{"pathPrefix":"/d"},"backend":{"urls":["http://h"]},"principalHeaders":{"X-A":"subject","x-a":"roles"},"policy":{"methods":[{"type":"apiKey","header":"x-functions-key","keys":[{"name":"k","secret":"vault://kv1/secrets/k"}]}]}}`,
		`{"name":"e","tenantId":1,"revision":"x","createdAt":[],"match":{"pathPrefix":"/e"},"backend":{"urls":["http://h"]},"policy":{"methods":[{"type":"bearer","issuers":[{"issuer":"http://127.0.0.1"}],"audiences":["a"]}]}}`,
		`{"name":"f","match":{"pathPrefix":"/f"},"backend":{"urls":["https://h"],"tls":{"insecureSkipVerify":true,"pinnedThumbprints":["ab"]},"credential":{"type":"basic","username":"u","password":"vault://kv1/secrets/p"}},"policy":{"anonymous":true}}`,
		`{"name":"g","match":{"pathPrefix":"/g"},"backend":{"urls":["http://h"],"tls":{"skipVerify":true},"credential":{"type":"bearer","token":"vault://kv1/secrets/t"}},"policy":{"anonymous":true}}`,
		`{"match":{"PathPrefix":"/"}}`, `{"policy":{"methods":[{"type":"basic","users":[{"Name":1}]}]}}`,
		`{"name":"\u0000"}`, `[]`, `null`, `{`, ``, `{"name":"a"} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, e, "/admin/v1/tenants/default/apis", body)
	})
}

// FuzzCreateConnectorBody drives the connector body decoder (exact field
// names at every depth, read-only fields dropped) and the directory's
// connector validation.
func FuzzCreateConnectorBody(f *testing.F) {
	e := newEnv(f)
	for _, s := range []string{
		`{"name":"a","endpoint":"https://h/x","authentication":{"type":"none"}}`,
		`{"name":"b","endpoint":"http://127.0.0.1:9/x?q=1","allowInsecureAuth":true,"authentication":{"type":"basic","username":"u","password":"vault://kv1/secrets/p"},"sendClaimsIn":"form","inputClaims":[{"claimType":"a","partnerClaimType":"b"}]}`,
		`{"name":"c","endpoint":"https://h","authentication":{"type":"bearer","clientCredentials":{"authority":"https://l/t","clientId":"c","clientSecret":"vault://kv1/secrets/s","scope":"s"}},"tls":{"pinnedThumbprints":["AB:CD"],"skipChainValidation":true}}`,
		`{"name":"d","endpoint":"https://h","sendClaimsIn":"header","inputClaims":[{"claimType":"Host"}],"tokenIssuance":{"clientApps":["x"],"failurePolicy":"failOpen"},"outputClaims":[{"claimType":"roles"}]}`,
		`{"name":"e","tenantId":1,"revision":"x","createdAt":[],"endpoint":"https://h","timeoutSeconds":1e400,"retries":-1}`,
		`{"Endpoint":"x"}`, `{"authentication":{"Type":1}}`, `{"name":"\u0000"}`, `[]`, `null`, `{`, ``, `{"name":"a"} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, e, "/admin/v1/tenants/default/connectors", body)
	})
}

// FuzzDuplicateMember checks duplicateMember against an oracle: a body
// has a duplicated member exactly when decoding it into maps loses
// members, counted by the tokenizer.
func FuzzDuplicateMember(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `{"a":[{"b":1},{"b":1,"c":[1,{"d":1,"d":1}]}]}`,
		`{"a":1,"b":{"a":1}}`, `[{"a":1},{"a":1}]`, `{"":1,"":2}`, `{"a\u0062":1,"ab":2}`,
		`{"a":"a","b":"a"}`, `"a"`, `[]`, `{}`, `null`, `{"a":`, `{"a":1} {"a":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		path, dup := duplicateMember(body)
		if !json.Valid(body) {
			if dup {
				t.Fatalf("invalid JSON %q reported a duplicate %q", body, path)
			}
			return
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return // valid but undecodable (e.g. a number out of range)
		}
		if kept, read := countMembers(v), countKeys(body); (kept != read) != dup {
			t.Fatalf("body %q: duplicate %v (%q), but decoding kept %d of %d members", body, dup, path, kept, read)
		}
	})
}

func countMembers(v any) int {
	n := 0
	switch v := v.(type) {
	case map[string]any:
		n += len(v)
		for _, e := range v {
			n += countMembers(e)
		}
	case []any:
		for _, e := range v {
			n += countMembers(e)
		}
	}
	return n
}

// countKeys counts the member names of every object of body.
func countKeys(body []byte) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	var objects []bool // per level: is it an object
	var expectKey []bool
	n := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		top := len(objects) - 1
		if _, ok := tok.(string); ok && top >= 0 && objects[top] && expectKey[top] {
			n++
			expectKey[top] = false
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			objects = append(objects, tok == json.Delim('{'))
			expectKey = append(expectKey, true)
			continue
		case json.Delim('}'), json.Delim(']'):
			objects, expectKey = objects[:top], expectKey[:top]
		}
		if len(objects) > 0 {
			expectKey[len(objects)-1] = true
		}
	}
}

// FuzzLoneSurrogate checks loneSurrogate against what encoding/json does:
// a body is reported exactly when decoding it yields a U+FFFD that the
// body did not hold, literally or escaped.
func FuzzLoneSurrogate(f *testing.F) {
	for _, s := range []string{
		`{"a":"\ud83d\ude00"}`, `{"a":"\ud83d"}`, `{"a":"\ude00"}`, `{"a":"\\ud83d"}`, `{"a":"\\\ud83d"}`,
		`{"\ud83dx":1}`, `["\ud83d\u0041"]`, `"\u00e9"`, `{"a":"\"\ud83d\udc4d"}`, `{"a":"x\ud800\udbff"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		at, bad := loneSurrogate(body)
		if !json.Valid(body) || !utf8.Valid(body) {
			return
		}
		if bytes.Contains(body, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(body), []byte("\\ufffd")) {
			return
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return
		}
		if replaced := holdsReplacement(v); replaced != bad {
			t.Fatalf("body %q: reported %v (at %d), but decoding yields U+FFFD: %v", body, bad, at, replaced)
		}
	})
}

func holdsReplacement(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, utf8.RuneError)
	case []any:
		for _, e := range v {
			if holdsReplacement(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if holdsReplacement(k) || holdsReplacement(e) {
				return true
			}
		}
	}
	return false
}
