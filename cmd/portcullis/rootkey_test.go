package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/server"
)

// startNode runs a dev server in-process with cfg until stop is called (or
// the test ends), and returns its base URL.
func startNode(t *testing.T, cfg server.Config) (addr string, stop func()) {
	t.Helper()
	cfg.Listen, cfg.Dev, cfg.ShutdownTimeout = "127.0.0.1:0", true, 5*time.Second
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.Start(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		cancel()
		t.Fatalf("server.Start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return "https://" + srv.Addr(), stop
}

// TestRootKeyRotation_ThroughTheCLI follows the documented procedure with
// the CLI: generate a key, restart with both, check (exit 1), rekey,
// status, check (exit 0).
func TestRootKeyRotation_ThroughTheCLI(t *testing.T) {
	dir := isolate(t)
	t.Setenv(server.RootKeyEnv, "")
	t.Setenv(server.PreviousRootKeysEnv, "")
	data := filepath.Join(dir, "data")
	oldFile, newFile := filepath.Join(dir, "root.key"), filepath.Join(dir, "root-new.key")
	for _, f := range []string{oldFile, newFile} {
		if code, out, errOut := exec(t, "", "rootkey", "generate", f); code != 0 || !strings.Contains(out, f) {
			t.Fatalf("rootkey generate: %d %s %s", code, out, errOut)
		}
	}
	oldKey, err := seal.LoadRootKeyFile(oldFile)
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := seal.LoadRootKeyFile(newFile)
	if err != nil {
		t.Fatal(err)
	}

	_, stop := startNode(t, server.Config{DataDir: data, RootKeyFile: oldFile})
	if code, _, errOut := exec(t, "", "secret", "set", "db-password", "--value", "s3cret-v1", "--data", data); code != 0 {
		t.Fatalf("secret set: %s", errOut)
	}
	stop()

	// The restarted node listens elsewhere (port 0): name it with --addr.
	addr, _ := startNode(t, server.Config{DataDir: data, RootKeyFile: newFile, PreviousRootKeyFiles: []string{oldFile}})
	code, out, errOut := exec(t, "", "vault", "rekey", "--check", "--data", data, "--addr", addr)
	if code != 1 || !strings.Contains(errOut, "portcullis vault rekey") || !strings.Contains(out, oldKey.ID()) || !strings.Contains(out, newKey.ID()) {
		t.Fatalf("check before rekey: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, errOut = exec(t, "", "vault", "rekey", "--data", data, "--addr", addr)
	if code != 0 || !strings.Contains(out, "Re-sealed 1 vault blob and 1 signing key") || !strings.Contains(out, "Every stored blob is sealed under the current root key "+newKey.ID()) ||
		!strings.Contains(out, "--previous-root-key") {
		t.Fatalf("rekey: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, errOut = exec(t, "", "vault", "rekey", "--data", data, "--addr", addr, "-o", "json")
	var again struct {
		RootKeyID   string `json:"rootKeyId"`
		VaultBlobs  int    `json:"vaultBlobs"`
		SigningKeys int    `json:"signingKeys"`
		Complete    bool   `json:"complete"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &again) != nil || again.VaultBlobs != 0 || again.SigningKeys != 0 || !again.Complete || again.RootKeyID != newKey.ID() {
		t.Fatalf("second rekey -o json: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if code, out, errOut = exec(t, "", "rootkey", "status", "--data", data, "--addr", addr); code != 0 || !strings.Contains(out, newKey.ID()) || !strings.Contains(out, "current") {
		t.Fatalf("rootkey status: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if code, out, errOut = exec(t, "", "vault", "rekey", "--check", "--data", data, "--addr", addr); code != 0 {
		t.Fatalf("check after rekey: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if code, _, errOut = exec(t, "", "vault", "rekey", "--vault", "payments", "--data", data, "--addr", addr); code != 1 || !strings.Contains(errOut, "drop --vault") {
		t.Fatalf("rekey --vault: exit %d, stderr %s", code, errOut)
	}
}

// TestServe_PreviousRootKeyErrorsNameTheSource checks that a bad previous
// root key stops serve before it starts, naming the flag or the variable
// and never echoing a key.
func TestServe_PreviousRootKeyErrorsNameTheSource(t *testing.T) {
	dir := isolate(t)
	t.Setenv(server.RootKeyEnv, "")
	good := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"missing file", "", []string{"--previous-root-key", filepath.Join(dir, "nope.key")}, "--previous-root-key"},
		{"bad env entry", good + ",not-a-key-" + good[:20], nil, server.PreviousRootKeysEnv + " entry 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(server.PreviousRootKeysEnv, tc.env)
			args := append([]string{"serve", "--dev", "--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0"}, tc.args...)
			code, _, errOut := exec(t, "", args...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want it to name %q", code, errOut, tc.want)
			}
			if strings.Contains(errOut, good[:20]) {
				t.Fatalf("stderr echoes key material: %q", errOut)
			}
		})
	}
}
