package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/portcullis/portcullis/bench/internal/loadgen"
	"github.com/portcullis/portcullis/internal/vaultclient"
)

func TestValueBody_IsJSONWithDistinctValuesOfTheRequestedSize(t *testing.T) {
	for _, size := range []int{1, 15, 16, 17, 64, 25600} {
		t.Run(strconv.Itoa(size)+" bytes", func(t *testing.T) {
			src := newValueSource(size, 41)
			seen := map[string]bool{}
			for range 3 {
				b := src.next()
				want := b.value()
				raw, err := io.ReadAll(b)
				if err != nil {
					t.Fatal(err)
				}
				if len(raw) != b.Len() {
					t.Fatalf("read %d bytes, Len() = %d", len(raw), b.Len())
				}
				var doc struct{ Value string }
				if err := json.Unmarshal(raw, &doc); err != nil {
					t.Fatalf("body is not JSON: %v: %.80s", err, raw)
				}
				if doc.Value != want || len(doc.Value) != size {
					t.Fatalf("value %.40q (%d bytes), want %.40q (%d bytes)", doc.Value, len(doc.Value), want, size)
				}
				if size >= tagLen && seen[doc.Value] {
					t.Fatalf("value %.40q repeated", doc.Value)
				}
				seen[doc.Value] = true
			}
			// Reads of one byte at a time (and the reader contract) agree.
			b := src.next()
			if err := iotest.TestReader(iotest.OneByteReader(b), []byte(bodyPrefix+b.value()+bodySuffix)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTokenEndpoint_FromChallengeOnLoopbackOnly(t *testing.T) {
	vaultURL := "https://127.0.0.1:8443/vaults/default"
	tests := []struct {
		name    string
		cfg     config
		ch      vaultclient.Challenge
		want    string
		wantErr string
	}{
		{"authority of the challenge", config{vaultURL: vaultURL}, vaultclient.Challenge{Authorization: "https://127.0.0.1:8443/t1", Resource: "https://127.0.0.1:8443"},
			"https://127.0.0.1:8443/t1/oauth2/v2.0/token", ""},
		{"-tenant replaces the challenge's tenant", config{vaultURL: vaultURL, tenant: "t2"}, vaultclient.Challenge{Authorization: "https://localhost:8443/t1/"},
			"https://localhost:8443/t2/oauth2/v2.0/token", ""},
		{"no authority: vault host and -tenant", config{vaultURL: vaultURL, tenant: "t3"}, vaultclient.Challenge{Scope: "api://x/.default"},
			"https://127.0.0.1:8443/t3/oauth2/v2.0/token", ""},
		{"-token-url wins", config{vaultURL: vaultURL, tokenURL: "https://127.0.0.1:9/t/oauth2/v2.0/token"}, vaultclient.Challenge{Authorization: "https://203.0.113.9/t1"},
			"https://127.0.0.1:9/t/oauth2/v2.0/token", ""},
		{"remote authority refused", config{vaultURL: vaultURL}, vaultclient.Challenge{Authorization: "https://login.example.com/t1"},
			"", "will not call"},
		{"no tenant anywhere", config{vaultURL: vaultURL}, vaultclient.Challenge{Resource: "https://127.0.0.1:8443"},
			"", "give -tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tokenEndpoint(tt.cfg, tt.ch)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("tokenEndpoint() = %q, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("tokenEndpoint() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestResolve_ReadsAdminJSONAndRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	adminJSON := `{"addr":"https://localhost:18444","ca":"/data/tls/ca.pem","tenantId":"tid","clientId":"cid","clientSecret":"s3cret-value","scope":"api://portcullis-management/.default"}`
	if err := os.WriteFile(filepath.Join(dir, "admin.json"), []byte(adminJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := loadgen.Options{Workers: 2, Duration: time.Second, MaxRequests: 10}
	type args struct {
		vaultURL, dataDir, clientID, secret, op, name string
		size                                          int
	}
	ok := args{dataDir: dir, op: "get", name: "bench", size: 64}
	tests := []struct {
		name    string
		mod     func(*args)
		wantErr string
	}{
		{"admin.json", func(*args) {}, ""},
		{"explicit client", func(a *args) {
			a.dataDir, a.clientID, a.secret, a.vaultURL = "", "c", "s", "https://127.0.0.1:8443/vaults/v1"
		}, ""},
		{"explicit client without secret", func(a *args) { a.dataDir, a.clientID = "", "c" }, "no client secret"},
		{"missing admin.json", func(a *args) { a.dataDir = filepath.Join(dir, "nope") }, "does not exist"},
		{"remote vault", func(a *args) { a.vaultURL = "https://vault.example.com/vaults/default" }, "loopback"},
		{"vault URL with a query", func(a *args) { a.vaultURL = "https://127.0.0.1:8443/vaults/default?x=1" }, "without a query"},
		{"unknown op", func(a *args) { a.op = "delete" }, "want get or set"},
		{"bad secret name", func(a *args) { a.name = "a/b" }, "-secret-name"},
		{"value too large", func(a *args) { a.size = 25601 }, "-size"},
		{"empty value", func(a *args) { a.size = 0 }, "-size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ok
			tt.mod(&a)
			cfg, err := resolve(a.vaultURL, "", a.dataDir, a.clientID, a.secret, "", "", a.op, a.name, a.size, opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolve() error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret-value") {
					t.Fatalf("error reveals the client secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.dataDir != "" && (cfg.vaultURL != "https://localhost:18444/vaults/default" || cfg.clientID != "cid" ||
				cfg.secret.Reveal() != "s3cret-value" || cfg.caFile != "/data/tls/ca.pem") {
				t.Fatalf("resolve() from admin.json = %+v", cfg)
			}
		})
	}
}
