package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/vault"
)

// vaultApp returns the identifier URIs of the built-in vault resource.
func (r *running) vaultAppURIs(t *testing.T) []string {
	t.Helper()
	var list struct {
		Value []flowApp `json:"value"`
	}
	if st := r.admin(t, "GET", "/tenants/default/applications", nil, &list); st != http.StatusOK {
		t.Fatalf("list applications: %d", st)
	}
	for _, a := range list.Value {
		if slices.Contains(a.IdentifierURIs, VaultIdentifierURI) {
			return a.IdentifierURIs
		}
	}
	t.Fatalf("no application with identifier URI %s", VaultIdentifierURI)
	return nil
}

func TestServe_VaultResourceFollowsTheListenAddressAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	first := startServer(t, Config{Dev: true, DataDir: dir})
	firstURIs := first.vaultAppURIs(t)
	if !slices.Contains(firstURIs, first.base) || !slices.Contains(firstURIs, strings.Replace(first.base, "127.0.0.1", "localhost", 1)) {
		t.Fatalf("identifier URIs %v do not name %s and its localhost form", firstURIs, first.base)
	}
	as, err := first.srv.Vault().ListRoleAssignments(context.Background(), vault.Caller{Admin: true}, vault.DefaultVault)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].PrincipalID != first.cred.ClientID || as[0].Role != vault.RoleAdministrator {
		t.Fatalf("role assignments of the default vault: %+v; want the admin client as Key Vault Administrator", as)
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}

	second := startServer(t, Config{Dev: true, DataDir: dir})
	uris := second.vaultAppURIs(t)
	if !slices.Contains(uris, second.base) || slices.Contains(uris, first.base) {
		t.Fatalf("after restart on another port the identifier URIs are %v; want %s and not %s", uris, second.base, first.base)
	}
	as, _ = second.srv.Vault().ListRoleAssignments(context.Background(), vault.Caller{Admin: true}, vault.DefaultVault)
	if len(as) != 1 {
		t.Fatalf("restart duplicated role assignments: %+v", as)
	}
}

func TestServe_BannerNamesTheVaultURL(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := Start(ctx, Config{Dev: true, DataDir: t.TempDir(), Listen: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(io.Discard, nil)), &out)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.store.Close()
	defer srv.listeners.close()
	_, port, _ := strings.Cut(srv.Addr(), ":")
	for _, want := range []string{"https://default.127.0.0.1:" + port, "https://localhost:" + port + "/vaults/default", "DisableChallengeResourceVerification",
		"Listening on:            127.0.0.1:" + port, "Public URL:              https://localhost:" + port} {
		if want == "https://default.127.0.0.1:"+port {
			if strings.Contains(out.String(), want) {
				t.Fatalf("banner names a vault host under an IP address:\n%s", out.String())
			}
			continue
		}
		if !strings.Contains(out.String(), want) {
			t.Fatalf("banner lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(out.String(), "https://default.localhost:"+port) {
		t.Fatalf("banner lacks the host-form vault URL:\n%s", out.String())
	}
}

func TestConfig_VaultWebhookFlags(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "hook.secret")
	if err := os.WriteFile(secretFile, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short.secret")
	if err := os.WriteFile(short, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		url     string
		file    string
		env     string
		wantErr string // "" = valid; matched against Validate, then vaultNotifier
	}{
		{"none", "", "", "", ""},
		{"https with secret file", "https://alerts.example.com/hook", secretFile, "", ""},
		{"https with secret in env", "https://alerts.example.com/hook", "", "0123456789abcdef", ""},
		{"http to loopback", "http://127.0.0.1:9/hook", secretFile, "", ""},
		{"url without secret", "https://alerts.example.com/hook", "", "", "--vault-webhook-secret-file"},
		{"secret without url", "", secretFile, "", "--vault-webhook-url"},
		{"plain http elsewhere", "http://alerts.example.com/hook", secretFile, "", "loopback"},
		{"not a URL", "alerts", secretFile, "", "--vault-webhook-url"},
		{"credentials in URL", "https://u:p@alerts.example.com/", secretFile, "", "without credentials"},
		{"short secret", "https://alerts.example.com/hook", short, "", "at least 16"},
		{"missing secret file", "https://alerts.example.com/hook", filepath.Join(dir, "nope"), "", "--vault-webhook-secret-file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(VaultWebhookSecretEnv, tc.env)
			c := Config{Dev: true, DataDir: dir, VaultWebhookURL: tc.url, VaultWebhookSecretFile: tc.file}
			err := c.Validate()
			if err == nil {
				_, err = vaultNotifier(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v; want one mentioning %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), "0123456789abcdef"):
				t.Fatalf("the error reveals the secret: %v", err)
			}
		})
	}
}

// TestServe_VaultMaintenanceNotifiesTheWebhook runs one maintenance pass on
// a certificate whose notification threshold has passed and checks the
// signed webhook delivery.
func TestServe_VaultMaintenanceNotifiesTheWebhook(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	got := make(chan vault.Notification, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !vault.VerifyWebhookSignature(secret, body, r.Header.Get(vault.SignatureHeader)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var n vault.Notification
		_ = json.Unmarshal(body, &n)
		got <- n
	}))
	defer hook.Close()
	t.Setenv(VaultWebhookSecretEnv, string(secret))
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir(), VaultWebhookURL: hook.URL + "/hook", VaultMaintenanceInterval: time.Hour})

	ctx := context.Background()
	_, err := r.srv.Vault().CreateCertificate(ctx, vault.Caller{Admin: true}, vault.DefaultVault, "expiring", vault.CertificateCreate{Policy: &vault.CertificatePolicy{
		X509Properties:  &vault.X509Properties{Subject: "CN=expiring", ValidityMonths: 1},
		LifetimeActions: []vault.LifetimeAction{{Trigger: vault.LifetimeTrigger{DaysBeforeExpiry: 31}, Action: vault.ActionType{ActionType: vault.ActionEmailContacts}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The webhook is called synchronously: when the pass returns, the
	// delivery has been received.
	r.srv.vaultMaintenance(ctx, time.Hour)
	select {
	case n := <-got:
		if n.Name != "expiring" || n.Vault != vault.DefaultVault || n.Action != vault.ActionEmailContacts {
			t.Fatalf("notification %+v", n)
		}
	default:
		t.Fatal("no webhook delivery after a maintenance pass")
	}
	r.srv.vaultMaintenance(ctx, time.Hour)
	select {
	case n := <-got:
		t.Fatalf("notified twice: %+v", n)
	default:
	}
}
