package vaultclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/oauthclient"
)

const (
	testClientID = "0c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
	testSecret   = "s3cret-value-for-tests"
	testTenant   = "7f1e2d3c-0000-4000-8000-000000000001"
)

// fakeVault is a small Key Vault-shaped server on real TLS: a token
// endpoint, the bearer challenge, a few secret, certificate and admin
// operations, and a record of what it received.
type fakeVault struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	tokenScopes []string            // scopes of token requests, in order
	requests    []recorded          // every /vaults request
	secrets     map[string][]string // name -> values, oldest first
	rejectNext  int                 // answer this many authenticated requests with 401
	opPolls     int                 // pending polls before the operation completes
	opFinal     string              // final status of the certificate operation
	noChallenge bool                // 401 without WWW-Authenticate
	adminCalls  []string
}

type recorded struct {
	method, path, auth string
	bodyLen            int
}

func newFakeVault(t *testing.T) *fakeVault {
	f := &fakeVault{t: t, secrets: map[string][]string{}, opFinal: "completed"}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeVault) resource() string { return f.srv.URL }

func (f *fakeVault) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{
		Addr: f.srv.URL, HTTPClient: f.srv.Client(), TokenURL: f.srv.URL + "/default/oauth2/v2.0/token",
		ClientID: testClientID, Credential: oauthclient.SecretCredential(oauthclient.NewSecret(testSecret)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func kvError(w http.ResponseWriter, status int, code, inner, msg string) {
	e := map[string]any{"code": code, "message": msg}
	if inner != "" {
		e["innererror"] = map[string]any{"code": inner}
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func (f *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	switch {
	case r.URL.Path == "/default/oauth2/v2.0/token":
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		if err := r.ParseForm(); err != nil || r.PostForm.Get("client_id") != testClientID || r.PostForm.Get("client_secret") != testSecret {
			writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
			return
		}
		scope := r.PostForm.Get("scope")
		f.tokenScopes = append(f.tokenScopes, scope)
		writeJSON(w, 200, map[string]any{"access_token": fmt.Sprintf("tok-%d-%s", len(f.tokenScopes), scope), "token_type": "Bearer", "expires_in": 3600})
		return
	case strings.HasPrefix(r.URL.Path, "/admin/v1/"):
		if !strings.HasSuffix(r.Header.Get("Authorization"), "-"+DefaultManagementScope) {
			kvError(w, 401, "Unauthorized", "", "no admin token")
			return
		}
		f.adminCalls = append(f.adminCalls, r.Method+" "+r.URL.RequestURI())
		switch r.Method + " " + r.URL.Path {
		case "POST /admin/v1/vaults":
			var in map[string]any
			json.Unmarshal(body, &in)
			writeJSON(w, 201, map[string]any{"name": in["name"], "softDeleteRetentionDays": 90, "purgeProtection": false, "recoveryLevel": "Recoverable+Purgeable", "vaultUri": f.srv.URL + "/vaults/x", "createdAt": "2026-03-01T12:00:00Z"})
		case "GET /admin/v1/vaults/default/audit":
			writeJSON(w, 200, map[string]any{"value": []map[string]any{{"time": "2026-03-01T12:00:00Z", "vault": "default", "operation": "secrets/getSecret", "outcome": "success"}}})
		default:
			kvError(w, 404, "NotFound", "", "no such admin operation")
		}
		return
	}
	f.requests = append(f.requests, recorded{r.Method, r.URL.Path, r.Header.Get("Authorization"), len(body)})
	if r.URL.Query().Get("api-version") != APIVersion {
		kvError(w, 400, "BadParameter", "", "api-version missing")
		return
	}
	want := "-" + f.resource() + "/.default"
	if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, "Bearer tok-") || !strings.HasSuffix(a, want) || f.rejectNext > 0 {
		if strings.HasPrefix(a, "Bearer ") && f.rejectNext > 0 {
			f.rejectNext--
		}
		if !f.noChallenge {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s/%s", resource="%s"`, f.resource(), testTenant, f.resource()))
		}
		kvError(w, 401, "Unauthorized", "", "AKV10000: Request is missing a Bearer or PoP token.")
		return
	}
	host := "https://default.vault.example:8443" // ids in host form, as kvapi writes them
	p := strings.TrimPrefix(r.URL.Path, "/vaults/default")
	segs := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case r.Method == "PUT" && len(segs) == 2 && segs[0] == "secrets":
		var in SecretSetParameters
		if err := json.Unmarshal(body, &in); err != nil {
			kvError(w, 400, "BadParameter", "", "bad body")
			return
		}
		f.secrets[segs[1]] = append(f.secrets[segs[1]], in.Value)
		v := len(f.secrets[segs[1]])
		writeJSON(w, 200, map[string]any{"id": fmt.Sprintf("%s/secrets/%s/%032d", host, segs[1], v), "value": in.Value, "contentType": in.ContentType, "tags": in.Tags,
			"attributes": map[string]any{"enabled": true, "created": 1770000000, "updated": 1770000000, "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90}})
	case r.Method == "GET" && len(segs) >= 2 && segs[0] == "secrets" && segs[1] != "":
		vals := f.secrets[segs[1]]
		if len(vals) == 0 {
			kvError(w, 404, "SecretNotFound", "", fmt.Sprintf("A secret with (name/id) %s was not found in this key vault.", segs[1]))
			return
		}
		writeJSON(w, 200, map[string]any{"id": fmt.Sprintf("%s/secrets/%s/%032d", host, segs[1], len(vals)), "value": vals[len(vals)-1], "attributes": map[string]any{"enabled": true}})
	case r.Method == "GET" && p == "/secrets":
		// Three pages of one item each; the links name another host, as a
		// server behind a public URL would.
		skip := r.URL.Query().Get("$skiptoken")
		names := []string{"a", "b", "c"}
		i := map[string]int{"": 0, "1": 1, "2": 2}[skip]
		out := map[string]any{"value": []map[string]any{{"id": host + "/secrets/" + names[i], "attributes": map[string]any{"enabled": true}}}}
		if i < 2 {
			out["nextLink"] = fmt.Sprintf("https://public.example/vaults/default/secrets?api-version=7.5&$skiptoken=%d", i+1)
		} else {
			out["nextLink"] = nil
		}
		writeJSON(w, 200, out)
	case r.Method == "GET" && p == "/keys":
		writeJSON(w, 200, map[string]any{"value": []any{}, "nextLink": "https://public.example/vaults/other/keys?api-version=7.5"})
	case r.Method == "DELETE" && len(segs) == 2 && segs[0] == "secrets":
		kvError(w, 403, "Forbidden", "ForbiddenByRbac", "caller lacks permission secrets/delete on vault default; assign the role \"Key Vault Secrets Officer\"")
	case r.Method == "POST" && len(segs) == 3 && segs[0] == "certificates" && segs[2] == "create":
		writeJSON(w, 202, map[string]any{"id": host + "/certificates/" + segs[1] + "/pending", "status": "inProgress", "issuer": map[string]any{"name": "Self"}, "request_id": "r1"})
	case r.Method == "GET" && len(segs) == 3 && segs[0] == "certificates" && segs[2] == "pending":
		status := "inProgress"
		if f.opPolls <= 0 {
			status = f.opFinal
		}
		f.opPolls--
		op := map[string]any{"id": host + "/certificates/" + segs[1] + "/pending", "status": status, "target": host + "/certificates/" + segs[1]}
		if status == "failed" {
			op["error"] = map[string]any{"code": "BadParameter", "message": "subject is invalid"}
		}
		writeJSON(w, 200, op)
	default:
		kvError(w, 404, "NotFound", "", "no such operation in the fake")
	}
}

func TestClient_LearnsTheScopeFromTheChallengeAndCachesTheToken(t *testing.T) {
	f := newFakeVault(t)
	c := f.client(t)
	ctx := context.Background()
	s, err := c.SetSecret(ctx, "default", "db-password", SecretSetParameters{Value: "hunter2", ContentType: "text/plain", Tags: map[string]string{"env": "dev"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Value != "hunter2" || s.ContentType != "text/plain" || !s.Attributes.IsEnabled() || Time(s.Attributes.Created).Unix() != 1770000000 {
		t.Errorf("bundle %+v", s)
	}
	if !strings.Contains(string(s.Raw), `"recoverableDays":90`) {
		t.Errorf("Raw does not hold the vault's JSON: %s", s.Raw)
	}
	if _, err := c.GetSecret(ctx, "default", "db-password", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListSecrets(ctx, "default"); err != nil {
		t.Fatal(err)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if want := []string{f.resource() + "/.default"}; fmt.Sprint(f.tokenScopes) != fmt.Sprint(want) {
		t.Errorf("token requests %v, want exactly %v", f.tokenScopes, want)
	}
	first := f.requests[0]
	if first.method != "PUT" || first.auth != "" || first.bodyLen != 0 {
		t.Errorf("first request %+v: want the PUT without token and without body (the secret must not be sent before the challenge)", first)
	}
	for _, r := range f.requests[1:] {
		if r.auth == "" {
			t.Errorf("request %+v went without a token after the challenge", r)
		}
	}
}

func TestClient_ListFollowsNextLinkOnlyWithinTheVault(t *testing.T) {
	f := newFakeVault(t)
	c := f.client(t)
	items, err := c.ListSecrets(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range items {
		_, name, _, ok := ParseID(it.ID)
		if !ok {
			t.Fatalf("ParseID(%q) failed", it.ID)
		}
		names = append(names, name)
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("names %v, want a,b,c across three pages", names)
	}
	f.mu.Lock()
	for _, r := range f.requests {
		if r.method == "GET" && r.path != "/vaults/default/secrets" {
			t.Errorf("followed a link to %s", r.path)
		}
	}
	f.mu.Unlock()

	_, err = c.ListKeys(context.Background(), "default")
	if err == nil || !strings.Contains(err.Error(), "points outside vault default") {
		t.Errorf("a nextLink into another vault: err %v", err)
	}
}

func TestClient_ErrorsCarryKeyVaultCodes(t *testing.T) {
	f := newFakeVault(t)
	c := f.client(t)
	ctx := context.Background()
	tests := []struct {
		name              string
		call              func() error
		status            int
		code, inner, text string
	}{
		{"not found", func() error { _, err := c.GetSecret(ctx, "default", "missing", ""); return err }, 404, "SecretNotFound", "", "was not found"},
		{"forbidden", func() error { _, err := c.DeleteSecret(ctx, "default", "x"); return err }, 403, "Forbidden", "ForbiddenByRbac", "Key Vault Secrets Officer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %v (%T), want *Error", err, err)
			}
			if e.Status != tc.status || e.Code != tc.code || e.InnerCode != tc.inner || !strings.Contains(e.Message, tc.text) {
				t.Errorf("error %+v", e)
			}
			if !strings.Contains(err.Error(), tc.code) {
				t.Errorf("message %q does not name the code", err)
			}
		})
	}
}

func TestClient_RetriesOnceWithANewTokenAfter401(t *testing.T) {
	f := newFakeVault(t)
	c := f.client(t)
	ctx := context.Background()
	if _, err := c.SetSecret(ctx, "default", "n", SecretSetParameters{Value: "v1"}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.rejectNext = 1 // e.g. the server restarted with new signing keys
	f.mu.Unlock()
	if _, err := c.GetSecret(ctx, "default", "n", ""); err != nil {
		t.Fatalf("after one rejected token: %v", err)
	}
	f.mu.Lock()
	f.rejectNext = 2
	f.mu.Unlock()
	_, err := c.GetSecret(ctx, "default", "n", "")
	var e *Error
	if !errors.As(err, &e) || e.Status != 401 {
		t.Fatalf("after two rejected tokens: %v, want the 401", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.tokenScopes) != 3 {
		t.Errorf("token requests %d, want 3 (the first, then one fresh token per call that was refused)", len(f.tokenScopes))
	}
}

func TestClient_RefusesAServerWithoutAChallenge(t *testing.T) {
	f := newFakeVault(t)
	f.noChallenge = true
	_, err := f.client(t).GetSecret(context.Background(), "default", "n", "")
	if err == nil || !strings.Contains(err.Error(), "challenge is unusable") {
		t.Fatalf("err %v", err)
	}
}

func TestClient_WaitCertificateOperation(t *testing.T) {
	tests := []struct {
		name    string
		polls   int
		final   string
		wantErr string
	}{
		{"completes after polls", 2, "completed", ""},
		{"completed at once", 0, "completed", ""},
		{"fails", 1, "failed", "BadParameter: subject is invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVault(t)
			f.opPolls, f.opFinal = tc.polls, tc.final
			c := f.client(t)
			ctx := context.Background()
			op, err := c.CreateCertificate(ctx, "default", "gw", CertificateCreateParameters{Policy: &CertificatePolicy{X509Properties: &X509Properties{Subject: "CN=gw"}}})
			if err != nil || op.Status != "inProgress" {
				t.Fatalf("create: %+v, %v", op, err)
			}
			op, err = c.WaitCertificateOperation(ctx, "default", "gw", op, time.Millisecond)
			if tc.wantErr == "" {
				if err != nil || op.Status != "completed" {
					t.Fatalf("wait: %+v, %v", op, err)
				}
				return
			}
			if !errors.Is(err, ErrOperationFailed) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("wait: err %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestClient_WaitStopsWithTheContext(t *testing.T) {
	f := newFakeVault(t)
	c := f.client(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.WaitCertificateOperation(ctx, "default", "gw", CertificateOperation{Status: "inProgress"}, time.Hour)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestClient_AdminCallsUseTheManagementScope(t *testing.T) {
	f := newFakeVault(t)
	c := f.client(t)
	ctx := context.Background()
	v, err := c.CreateVault(ctx, NewVault{Name: "team-a"})
	if err != nil || v.Name != "team-a" || v.SoftDeleteRetentionDays != 90 {
		t.Fatalf("create vault: %+v, %v", v, err)
	}
	recs, err := c.Audit(ctx, "default", 5)
	if err != nil || len(recs) != 1 || recs[0].Operation != "secrets/getSecret" {
		t.Fatalf("audit: %+v, %v", recs, err)
	}
	_, err = c.GetVault(ctx, "nope")
	var e *Error
	if !errors.As(err, &e) || e.Status != 404 || e.Code != "NotFound" {
		t.Fatalf("unknown route: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.tokenScopes) != 1 || f.tokenScopes[0] != DefaultManagementScope {
		t.Errorf("token scopes %v", f.tokenScopes)
	}
	if f.adminCalls[1] != "GET /admin/v1/vaults/default/audit?limit=5" {
		t.Errorf("admin calls %v", f.adminCalls)
	}
}

func TestClient_WrongCredentialIsReported(t *testing.T) {
	f := newFakeVault(t)
	c, err := New(Config{Addr: f.srv.URL, HTTPClient: f.srv.Client(), TokenURL: f.srv.URL + "/default/oauth2/v2.0/token",
		ClientID: testClientID, Credential: oauthclient.SecretCredential(oauthclient.NewSecret("wrong-secret"))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecret(context.Background(), "default", "n", "")
	var oe *oauthclient.Error
	if !errors.As(err, &oe) || oe.Code != "invalid_client" {
		t.Fatalf("err %v, want the token endpoint's invalid_client", err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("error shows the secret: %v", err)
	}
}

func TestNew_RefusesBadConfiguration(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no address", Config{TokenURL: "https://x/t", ClientID: "c"}, "server address"},
		{"bad scheme", Config{Addr: "ftp://x", TokenURL: "https://x/t", ClientID: "c"}, "server address"},
		{"no token url", Config{Addr: "https://x", ClientID: "c"}, "token endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}
