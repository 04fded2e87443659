package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeCLIEnv makes the test binary act as the portcullis command (see
// TestMain), so that the README's shell commands run this package's code
// without a second build.
const readmeCLIEnv = "PORTCULLIS_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(readmeCLIEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// quickstartScript returns the sh blocks of the README between the
// quickstart markers, in order.
func quickstartScript(readme string) (string, error) {
	const begin, end = "<!-- quickstart:begin", "<!-- quickstart:end -->"
	i := strings.Index(readme, begin)
	j := strings.Index(readme, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("README lacks the %q … %q markers", begin, end)
	}
	var b strings.Builder
	in := false
	sc := bufio.NewScanner(strings.NewReader(readme[i:j]))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !in && strings.TrimSpace(line) == "```sh":
			in = true
		case in && strings.TrimSpace(line) == "```":
			in = false
			b.WriteString("\n")
		case in:
			b.WriteString(line + "\n")
		}
	}
	if b.Len() == 0 {
		return "", fmt.Errorf("no sh blocks between the quickstart markers")
	}
	return b.String(), nil
}

// TestReadme_QuickstartRunsVerbatim runs the README's quickstart commands,
// as written, with bash against a dev server on a free port, the CLI on
// PATH, in an empty directory.
func TestReadme_QuickstartRunsVerbatim(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq", "python3"} {
		if _, err := osexec.LookPath(tool); err != nil {
			t.Skipf("SKIP: the README quickstart needs %s, which is not installed", tool)
		}
	}
	if l, err := net.Listen("tcp", "127.0.0.1:9000"); err != nil {
		t.Skipf("SKIP: the README quickstart's backend needs 127.0.0.1:9000, which is in use: %v", err)
	} else {
		l.Close()
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := quickstartScript(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	wrapper := "#!/bin/sh\n" + readmeCLIEnv + "=1 exec '" + self + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "portcullis"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PORTCULLIS_") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	env = append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	// The server, as the README starts it but on a free port.
	ctx, cancel := context.WithCancel(context.Background())
	srv := osexec.CommandContext(ctx, filepath.Join(bin, "portcullis"), "serve", "--dev", "--listen", "127.0.0.1:0", "--metrics-listen", "off")
	srv.Dir, srv.Env = work, env
	banner, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	srv.Stderr = &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = srv.Wait() })
	started := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(banner)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Admin credential:") {
				started <- true
			}
		}
		started <- false
	}()
	select {
	case ok := <-started:
		if !ok {
			t.Fatalf("the server stopped before printing its banner:\n%s", logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("no banner from the server within a minute:\n%s", logs.String())
	}

	// The README's commands, verbatim; background jobs end with the script.
	cmd := osexec.Command("bash", "-c", "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"+script)
	cmd.Dir, cmd.Env = work, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README quickstart failed: %v\n--- script ---\n%s\n--- output ---\n%s\n--- server log ---\n%s", err, script, out, logs.String())
	}
	for _, want := range []string{
		`"Orders.Read"`,        // the decoded token's roles
		`"s3cr3t-db-password"`, // the vault read with curl
		"200 OK",               // through the gateway with the token
		"refused without a token, as it should be", // and without
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the quickstart output lacks %q:\n%s", want, out)
		}
	}
}
