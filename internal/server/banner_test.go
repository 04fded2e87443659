package server

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/directory"
)

// The banner's admin-credential line tells the truth on every node of a
// cluster: only the node that bootstrapped the database holds the file.
func TestPrintBanner_AdminCredentialLine(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "admin.json")
	if err := os.WriteFile(present, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "elsewhere", "admin.json")
	for _, tc := range []struct {
		name    string
		file    string
		created bool
		want    string
		notWant string
	}{
		{"created by this start", present, true, present + " (mode 0600; the CLI reads it from --data)", "none on this node"},
		{"kept from an earlier start", present, false, "Admin credential:        " + present + "\n", "none on this node"},
		{"bootstrapped by another node", missing, false, "none on this node: the first start on this database wrote it", missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			cfg := Config{DataDir: dir, AdminCredentialFile: tc.file}
			boot := bootstrapResult{Tenant: directory.Tenant{ID: "t1"}, AdminCreated: tc.created}
			printBanner(&out, cfg, "127.0.0.1:1", "https://sts.example.com", boot, "", false, directory.Application{AppID: "a1"}, []string{"https://sts.example.com"}, nil)
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("banner lacks %q:\n%s", tc.want, out.String())
			}
			if strings.Contains(out.String(), tc.notWant) {
				t.Errorf("banner holds %q:\n%s", tc.notWant, out.String())
			}
		})
	}
}
