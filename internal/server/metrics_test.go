package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/vault"
)

// scrape reads the metrics listener (plain HTTP on loopback).
func (r *running) scrape(t *testing.T) string {
	t.Helper()
	addr := r.srv.MetricsAddr()
	if addr == "" {
		t.Fatal("metrics are off; start the server with MetricsListen")
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

func TestConfig_MetricsListen(t *testing.T) {
	for _, tc := range []struct {
		name        string
		listen      string
		allowRemote bool
		pprof       bool
		want        string // MetricsListen after Validate
		wantErr     string
	}{
		{name: "empty is off", listen: "", want: ""},
		{name: "off", listen: "off", want: ""},
		{name: "OFF", listen: "OFF", want: ""},
		{name: "default", listen: DefaultMetricsListen, want: DefaultMetricsListen},
		{name: "IPv6 loopback", listen: "[::1]:9464", want: "[::1]:9464"},
		{name: "localhost", listen: "localhost:0", want: "localhost:0"},
		{name: "every interface", listen: "0.0.0.0:9464", wantErr: "--metrics-allow-remote"},
		{name: "empty host binds every interface", listen: ":9464", wantErr: "--metrics-allow-remote"},
		{name: "a LAN address", listen: "10.1.2.3:9464", wantErr: "reachable from other machines"},
		{name: "remote allowed", listen: "0.0.0.0:9464", allowRemote: true, want: "0.0.0.0:9464"},
		{name: "not host:port", listen: "9464", wantErr: "want host:port"},
		{name: "allow-remote while off", listen: "off", allowRemote: true, wantErr: "metrics are off"},
		{name: "profiles on the metrics listener", listen: DefaultMetricsListen, pprof: true, want: DefaultMetricsListen},
		{name: "profiles while metrics are off", listen: "off", pprof: true, wantErr: "--metrics-pprof is set but metrics are off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Dev: true, MetricsListen: tc.listen, MetricsAllowRemote: tc.allowRemote, MetricsProfiling: tc.pprof}
			err := c.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.MetricsListen != tc.want {
				t.Fatalf("MetricsListen = %q; want %q", c.MetricsListen, tc.want)
			}
		})
	}
}

func TestRouteLabel_TakesMethodsFromAClosedSet(t *testing.T) {
	for pattern, want := range map[string]string{
		"":                                 "unmatched",
		"GET /healthz":                     "GET /healthz",
		"POST /{tenant}/oauth2/v2.0/token": "POST /{tenant}/oauth2/v2.0/token",
		"/admin/v1/":                       "/admin/v1/",
		"kvapi GET /secrets/{name}":        "kvapi GET /secrets/{name}",
		"kvapi FOO /secrets/{name}":        "kvapi OTHER /secrets/{name}",
		"kvapi get /secrets/{name}":        "kvapi OTHER /secrets/{name}",
		"kvapi /certificates/contacts":     "kvapi /certificates/contacts",
		"keyvault OTHER secrets":           "keyvault OTHER secrets",
		"keyvault PROPFIND secrets":        "keyvault OTHER secrets",
		"BREW /pot":                        "OTHER /pot",
	} {
		if got := routeLabel(pattern); got != want {
			t.Errorf("routeLabel(%q) = %q; want %q", pattern, got, want)
		}
	}
}

func TestServe_MetricsAreServedOnlyOnTheirListenerWithoutObjectNames(t *testing.T) {
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir(), MetricsListen: "127.0.0.1:0"})
	resp, err := r.client.Get(r.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || strings.Contains(string(b), "portcullis_") {
		t.Fatalf("main listener serves metrics: %d %.200s", resp.StatusCode, b)
	}

	_, err = r.srv.Vault().CreateCertificate(context.Background(), vault.Caller{Admin: true}, vault.DefaultVault, "customer-secret-name", vault.CertificateCreate{Policy: &vault.CertificatePolicy{
		X509Properties: &vault.X509Properties{Subject: "CN=x", ValidityMonths: 12},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// A made-up method with a valid vault token reaches the Key Vault router.
	tok, status, body := r.token(t, r.cred.TenantID, r.cred.ClientID, r.cred.ClientSecret, VaultIdentifierURI+"/.default")
	if status != http.StatusOK {
		t.Fatalf("vault token: %d %v", status, body)
	}
	req, _ := http.NewRequest("FOO", r.base+"/vaults/default/secrets/x?api-version=7.5", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	m := r.scrape(t)
	for _, want := range []string{
		`route="kvapi OTHER /secrets/{name}"`,
		`portcullis_vault_certificate_soonest_expiry_timestamp_seconds{vault="default"}`,
		`portcullis_vault_certificates{expires="later",vault="default"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, leak := range []string{"FOO", "customer-secret-name"} {
		if strings.Contains(m, leak) {
			t.Errorf("metrics contain %q", leak)
		}
	}
}

// Go's profiles are on the metrics listener only when asked for, and
// never on the clients' listener.
func TestServe_ProfilesAreServedOnTheMetricsListenerWhenAskedFor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pprof bool
		want  int
	}{
		{"off by default", false, http.StatusNotFound},
		{"--metrics-pprof", true, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startServer(t, Config{Dev: true, DataDir: t.TempDir(), MetricsListen: "127.0.0.1:0", MetricsProfiling: tc.pprof})
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
				resp, err := http.Get("http://" + r.srv.MetricsAddr() + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Errorf("metrics listener %s: %d, want %d", path, resp.StatusCode, tc.want)
				}
			}
			resp, err := r.client.Get(r.base + "/debug/pprof/cmdline")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Error("the clients' listener serves profiles")
			}
		})
	}
}

func TestServe_MetricsObjectNamesAddPerCertificateSeries(t *testing.T) {
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir(), MetricsListen: "127.0.0.1:0", MetricsObjectNames: true})
	_, err := r.srv.Vault().CreateCertificate(context.Background(), vault.Caller{Admin: true}, vault.DefaultVault, "named", vault.CertificateCreate{Policy: &vault.CertificatePolicy{
		X509Properties: &vault.X509Properties{Subject: "CN=x", ValidityMonths: 12},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if m := r.scrape(t); !strings.Contains(m, `portcullis_vault_certificate_expiry_timestamp_seconds{name="named",vault="default"}`) {
		t.Fatalf("per-certificate series missing:\n%.3000s", m)
	}
}
