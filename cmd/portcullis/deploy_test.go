package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The deployment files in the repository start `portcullis serve` with
// flags of their own; each must be a flag serve really has, or the node
// refuses to start (or, for a renamed flag, starts differently than the
// file says).
func TestDeployFiles_UseOnlyFlagsServeHas(t *testing.T) {
	serve := newServeCommand()
	for _, tc := range []struct {
		file string
		// args extracts the part of the file that is serve's command line.
		args func(text string) string
		min  int // at least this many flags, so that a broken extraction fails
	}{
		{"../../deploy/systemd/portcullis.service", func(text string) string {
			_, after, _ := strings.Cut(text, "ExecStart=")
			before, _, _ := strings.Cut(after, "\nExecReload=")
			return before
		}, 6},
		{"../../deploy/compose.yaml", func(text string) string {
			_, after, _ := strings.Cut(text, "  command:\n")
			before, _, _ := strings.Cut(after, "  volumes:")
			return before
		}, 6},
		{"../../Dockerfile", func(text string) string {
			_, after, _ := strings.Cut(text, "\nCMD [")
			return after
		}, 4},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			flags := regexp.MustCompile(`--([a-z][a-z0-9-]*)`).FindAllStringSubmatch(tc.args(string(b)), -1)
			if len(flags) < tc.min {
				t.Fatalf("found %d flags of serve in %s, want at least %d: has the file's layout changed?", len(flags), tc.file, tc.min)
			}
			for _, f := range flags {
				if serve.Flags().Lookup(f[1]) == nil {
					t.Errorf("%s starts serve with --%s, which serve does not have (see 'portcullis serve --help')", tc.file, f[1])
				}
			}
		})
	}
}
