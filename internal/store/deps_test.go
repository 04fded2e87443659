package store_test

import (
	"go/build"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinary_LinksNoTestingPackage keeps test helpers out of production
// packages: test openers live in …test packages (sqlitetest, pgtest,
// storetest) that only test files import, so the portcullis binary never
// links package testing.
func TestBinary_LinksNoTestingPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped in -short mode")
	}
	// The go command of the toolchain running this test.
	gobin := filepath.Join(build.Default.GOROOT, "bin", "go")
	out, err := exec.Command(gobin, "list", "-deps", "github.com/portcullis/portcullis/cmd/portcullis").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/portcullis: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" || strings.HasPrefix(pkg, "testing/") || strings.HasSuffix(pkg, "test") && strings.HasPrefix(pkg, "github.com/portcullis/") {
			t.Errorf("cmd/portcullis links %s; move the test helper that imports it into a …test package used only by tests", pkg)
		}
	}
}
