package adminclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/oauthclient"
)

// clearEnv unsets every variable LoadConfig reads, for the test's duration.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{EnvAddr, EnvCA, EnvData, EnvClientID, EnvClientSecret, EnvTenant} {
		t.Setenv(k, "")
	}
}

func writeCredentialFile(t *testing.T, dir string, c map[string]string) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, CredentialFileName)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func devFile(dir string) map[string]string {
	return map[string]string{
		"addr": "https://127.0.0.1:8443", "ca": filepath.Join(dir, "tls", "ca.pem"), "tenantId": "11111111-1111-1111-1111-111111111111",
		"clientId": "file-client", "clientSecret": "file-secret", "scope": "api://portcullis-management/.default",
	}
}

func TestLoadConfig_Precedence(t *testing.T) {
	for _, tc := range []struct {
		name       string
		file       bool
		env        map[string]string
		flags      func(dir string) Flags
		wantAddr   string
		wantCA     func(dir string) string
		wantClient string
		wantSecret string
		wantTenant string
		wantSource func(dir string) string
	}{
		{
			name: "dev data directory alone", file: true,
			flags:    func(dir string) Flags { return Flags{DataDir: dir} },
			wantAddr: "https://127.0.0.1:8443", wantCA: func(dir string) string { return filepath.Join(dir, "tls", "ca.pem") },
			wantClient: "file-client", wantSecret: "file-secret", wantTenant: "11111111-1111-1111-1111-111111111111",
			wantSource: func(dir string) string { return filepath.Join(dir, CredentialFileName) },
		},
		{
			name: "PORTCULLIS_DATA finds the file", file: true,
			env:      map[string]string{EnvData: "DIR"},
			flags:    func(string) Flags { return Flags{} },
			wantAddr: "https://127.0.0.1:8443", wantCA: func(dir string) string { return filepath.Join(dir, "tls", "ca.pem") },
			wantClient: "file-client", wantSecret: "file-secret", wantTenant: "11111111-1111-1111-1111-111111111111",
		},
		{
			name: "flags win over environment and file", file: true,
			env: map[string]string{EnvAddr: "https://env.example:1", EnvCA: "/env/ca.pem"},
			flags: func(dir string) Flags {
				return Flags{DataDir: dir, Addr: "https://flag.example:2/", CA: "/flag/ca.pem"}
			},
			wantAddr: "https://flag.example:2", wantCA: func(string) string { return "/flag/ca.pem" },
			wantClient: "file-client", wantSecret: "file-secret", wantTenant: "11111111-1111-1111-1111-111111111111",
		},
		{
			name: "environment address wins over the file's", file: true,
			env:      map[string]string{EnvAddr: "https://localhost:8443"},
			flags:    func(dir string) Flags { return Flags{DataDir: dir} },
			wantAddr: "https://localhost:8443", wantCA: func(dir string) string { return filepath.Join(dir, "tls", "ca.pem") },
			wantClient: "file-client", wantSecret: "file-secret", wantTenant: "11111111-1111-1111-1111-111111111111",
		},
		{
			name: "environment credential wins over the file's", file: true,
			env:      map[string]string{EnvAddr: "https://sts.example.com", EnvClientID: "env-client", EnvClientSecret: "env-secret", EnvTenant: "contoso"},
			flags:    func(dir string) Flags { return Flags{DataDir: dir} },
			wantAddr: "https://sts.example.com", wantCA: func(string) string { return "" },
			wantClient: "env-client", wantSecret: "env-secret", wantTenant: "contoso",
			wantSource: func(string) string { return "environment (PORTCULLIS_CLIENT_ID)" },
		},
		{
			name:     "production from environment only, tenant defaults",
			env:      map[string]string{EnvAddr: "https://sts.example.com", EnvClientID: "env-client", EnvClientSecret: "env-secret"},
			flags:    func(dir string) Flags { return Flags{DataDir: dir} },
			wantAddr: "https://sts.example.com", wantCA: func(string) string { return "" },
			wantClient: "env-client", wantSecret: "env-secret", wantTenant: "default",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			dir := t.TempDir()
			if tc.file {
				writeCredentialFile(t, dir, devFile(dir))
			}
			for k, v := range tc.env {
				t.Setenv(k, strings.ReplaceAll(v, "DIR", dir))
			}
			cfg, err := LoadConfig(tc.flags(dir))
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if cfg.Addr != tc.wantAddr || cfg.CAFile != tc.wantCA(dir) || cfg.ClientID != tc.wantClient ||
				cfg.ClientSecret.Reveal() != tc.wantSecret || cfg.TokenTenant != tc.wantTenant {
				t.Errorf("got addr=%q ca=%q client=%q secret ok=%v tenant=%q\nwant addr=%q ca=%q client=%q tenant=%q",
					cfg.Addr, cfg.CAFile, cfg.ClientID, cfg.ClientSecret.Reveal() == tc.wantSecret, cfg.TokenTenant,
					tc.wantAddr, tc.wantCA(dir), tc.wantClient, tc.wantTenant)
			}
			if tc.wantSource != nil && cfg.Source != tc.wantSource(dir) {
				t.Errorf("Source = %q, want %q", cfg.Source, tc.wantSource(dir))
			}
			if cfg.Scope != ManagementScope {
				t.Errorf("Scope = %q", cfg.Scope)
			}
			if got, want := cfg.TokenURL(), tc.wantAddr+"/"+tc.wantTenant+"/oauth2/v2.0/token"; got != want {
				t.Errorf("TokenURL = %q, want %q", got, want)
			}
			if s := fmt.Sprintf("%+v", cfg); strings.Contains(s, tc.wantSecret) {
				t.Errorf("printing the Config shows the secret: %s", s)
			}
		})
	}
}

func TestLoadConfig_Errors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) Flags
		want  []string
	}{
		{
			name:  "nothing configured names the file and the variables",
			setup: func(t *testing.T, dir string) Flags { return Flags{DataDir: dir} },
			want:  []string{"no admin credential", "admin.json does not exist", "--data", "PORTCULLIS_DATA", "PORTCULLIS_CLIENT_ID", "PORTCULLIS_CLIENT_SECRET", "PORTCULLIS_ADDR"},
		},
		{
			name: "address but no credential",
			setup: func(t *testing.T, dir string) Flags {
				return Flags{DataDir: dir, Addr: "https://sts.example.com"}
			},
			want: []string{"no admin credential", filepath.Join("admin.json")},
		},
		{
			name: "client id without secret",
			setup: func(t *testing.T, dir string) Flags {
				t.Setenv(EnvClientID, "x")
				return Flags{DataDir: dir, Addr: "https://sts.example.com"}
			},
			want: []string{"PORTCULLIS_CLIENT_ID is set but PORTCULLIS_CLIENT_SECRET is not"},
		},
		{
			name: "environment credential without address",
			setup: func(t *testing.T, dir string) Flags {
				t.Setenv(EnvClientID, "x")
				t.Setenv(EnvClientSecret, "do-not-show")
				return Flags{DataDir: dir}
			},
			want: []string{"no server address", "--addr", "PORTCULLIS_ADDR"},
		},
		{
			name: "malformed admin.json",
			setup: func(t *testing.T, dir string) Flags {
				os.WriteFile(filepath.Join(dir, CredentialFileName), []byte("{not json"), 0o600)
				return Flags{DataDir: dir}
			},
			want: []string{"admin.json is not valid JSON"},
		},
		{
			name: "admin.json without secret",
			setup: func(t *testing.T, dir string) Flags {
				f := devFile(dir)
				delete(f, "clientSecret")
				writeCredentialFile(t, dir, f)
				return Flags{DataDir: dir}
			},
			want: []string{"has no clientId or clientSecret"},
		},
		{
			name: "address without scheme",
			setup: func(t *testing.T, dir string) Flags {
				writeCredentialFile(t, dir, devFile(dir))
				return Flags{DataDir: dir, Addr: "localhost:8443"}
			},
			want: []string{"--addr", `"localhost:8443"`, "https://localhost:8443"},
		},
		{
			name: "plain http to a remote host",
			setup: func(t *testing.T, dir string) Flags {
				writeCredentialFile(t, dir, devFile(dir))
				return Flags{DataDir: dir, Addr: "http://sts.example.com"}
			},
			want: []string{"clear text"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			dir := t.TempDir()
			_, err := LoadConfig(tc.setup(t, dir))
			if err == nil {
				t.Fatal("LoadConfig succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "do-not-show") || strings.Contains(err.Error(), "file-secret") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}

func TestLoadEndpoint_NeedsNoCredential(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   bool
		flags  Flags
		wantCA bool
	}{
		{"file address and CA", true, Flags{}, true},
		{"other address ignores the dev CA", true, Flags{Addr: "https://sts.example.com"}, false},
		{"no file, address flag", false, Flags{Addr: "http://127.0.0.1:8080"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			dir := t.TempDir()
			if tc.file {
				writeCredentialFile(t, dir, devFile(dir))
			}
			tc.flags.DataDir = dir
			e, err := LoadEndpoint(tc.flags)
			if err != nil {
				t.Fatalf("LoadEndpoint: %v", err)
			}
			if (e.CAFile != "") != tc.wantCA {
				t.Errorf("CAFile = %q, want set=%v", e.CAFile, tc.wantCA)
			}
			if got := e.TokenURL("my tenant"); !strings.HasSuffix(got, "/my%20tenant/oauth2/v2.0/token") {
				t.Errorf("TokenURL = %q", got)
			}
		})
	}
}

func TestNewHTTPClient_CAFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("-----BEGIN NONSENSE-----\n"), 0o600)
	for _, tc := range []struct{ name, file, want string }{
		{"missing", filepath.Join(dir, "nope.pem"), "no such file"},
		{"not a certificate", bad, "holds no certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewHTTPClient(tc.file); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestEndpoint_ExplainConnectionSaysWhatToDoForTheAddressSource(t *testing.T) {
	refused := &oauthclient.ConnectionError{Base: "https://localhost:8443", Reason: "nothing answers at https://localhost:8443 (connection refused)"}
	for _, tc := range []struct {
		source string
		want   []string
	}{
		{"/home/you/portcullis-data/admin.json", []string{"nothing answers at https://localhost:8443", "/home/you/portcullis-data/admin.json", "portcullis serve --dev", "--addr https://HOST:PORT"}},
		{"--addr", []string{"check --addr"}},
		{EnvAddr, []string{"check " + EnvAddr}},
	} {
		t.Run(tc.source, func(t *testing.T) {
			msg := Endpoint{AddrSource: tc.source}.ExplainConnection(refused).Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
			if strings.Count(msg, "https://localhost:8443") != 1 {
				t.Errorf("the address is said more than once: %q", msg)
			}
		})
	}
	other := errors.New("boom")
	if got := (Endpoint{}).ExplainConnection(other); got != other {
		t.Errorf("other errors changed: %v", got)
	}
}
