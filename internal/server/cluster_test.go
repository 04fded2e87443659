package server

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
)

// TestServe_ClusterOnPostgreSQLSharesDirectoryAndKeys starts two nodes on one
// PostgreSQL database: an application registered through node A can get a
// token from node B within the reload interval, and a token signed by one
// node verifies on the other.
func TestServe_ClusterOnPostgreSQLSharesDirectoryAndKeys(t *testing.T) {
	dbURL := pgtest.NewDatabaseURL(t)
	t.Setenv(RootKeyEnv, strings.Repeat("5a", 32))
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startServer(t, Config{Dev: true, DataDir: dirA, DatabaseURL: dbURL, ReloadInterval: 100 * time.Millisecond})
	tls := devTLSPaths(dirA)
	b := startServer(t, Config{Dev: true, DataDir: dirB, DatabaseURL: dbURL, ReloadInterval: 100 * time.Millisecond,
		TLSCertFile: tls.CertFile, TLSKeyFile: tls.KeyFile, AdminCredentialFile: filepath.Join(dirA, "admin.json")})
	if a.cred != b.cred {
		t.Fatal("the second node created another admin credential instead of joining the cluster")
	}

	var client flowApp
	if st := a.admin(t, "POST", "/tenants/default/applications", map[string]any{"displayName": "joiner"}, &client); st != http.StatusCreated {
		t.Fatalf("create app on A: %d", st)
	}
	var secret struct {
		SecretText string `json:"secretText"`
	}
	if st := a.admin(t, "POST", "/tenants/default/applications/joiner/passwordCredentials", map[string]any{}, &secret); st != http.StatusCreated {
		t.Fatalf("add secret on A: %d", st)
	}

	// Node B learns of A's writes only through the shared database, by its
	// own revision watch (every ReloadInterval): wait for that condition.
	deadline := time.Now().Add(15 * time.Second)
	for {
		tok, status, body := b.token(t, b.cred.TenantID, client.AppID, secret.SecretText, "api://portcullis-management/.default")
		if status == http.StatusOK {
			if p, err := a.verifyAdminToken(t, tok); err != nil || p.AppID != client.AppID {
				t.Fatalf("node A does not verify a token signed by node B: %+v, %v", p, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B still refuses the application registered on node A: %d %v", status, body)
		}
		time.Sleep(50 * time.Millisecond) // polling interval for the condition above
	}
}
