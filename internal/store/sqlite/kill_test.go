package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/directory"
)

const killChildEnv = "PORTCULLIS_SQLITE_KILL_CHILD_DB"

// TestKill_AcknowledgedWritesSurviveSIGKILL runs a child process that writes
// tenants and reports each acknowledged write, kills it with SIGKILL in the
// middle of writing, and checks that every acknowledged write is in the
// database.
func TestKill_AcknowledgedWritesSurviveSIGKILL(t *testing.T) {
	if path := os.Getenv(killChildEnv); path != "" {
		writeUntilKilled(path)
		return
	}
	path := filepath.Join(t.TempDir(), "portcullis.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill_AcknowledgedWritesSurviveSIGKILL$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := make(map[string]bool)
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 25 {
		if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked[id] = true
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatal(err)
	}
	for sc.Scan() { // writes acknowledged before the kill landed
		if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked[id] = true
		}
	}
	cmd.Wait()
	if len(acked) < 25 {
		t.Fatalf("the child acknowledged only %d writes", len(acked))
	}

	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tenants, err := s.ListTenants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	have := make(map[string]bool)
	for _, tn := range tenants {
		have[tn.ID] = true
	}
	for id := range acked {
		if !have[id] {
			t.Errorf("acknowledged tenant %s is missing after SIGKILL", id)
		}
	}
}

func writeUntilKilled(path string) {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		id := fmt.Sprintf("tenant-%06d", i)
		if err := s.CreateTenant(ctx, directory.Tenant{ID: id, Name: id}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println("acked " + id)
	}
}
