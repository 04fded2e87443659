package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun_RefusesWhatItMustNotLoad(t *testing.T) {
	dir := t.TempDir()
	remote := filepath.Join(dir, "remote.json")
	os.WriteFile(remote, []byte(`{"addr":"https://example.com:8443","tenantId":"t","clientId":"c","clientSecret":"s","scope":"x"}`), 0o600)
	for _, tc := range []struct {
		name, admin string
		n, every    int
		want        string
	}{
		{"no credential file", "", 10, 10, "-admin is required"},
		{"zero applications", remote, 0, 10, "must be positive"},
		{"missing file", filepath.Join(dir, "nope.json"), 10, 10, "-admin"},
		{"not loopback", remote, 10, 10, "loopback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(io.Discard, tc.admin, tc.n, tc.every, "x")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run = %v; want an error mentioning %q", err, tc.want)
			}
		})
	}
}
