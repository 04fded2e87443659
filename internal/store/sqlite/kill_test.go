package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/vault/vaulttest"
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
	acked := vaulttest.KillChild(t, "^TestKill_AcknowledgedWritesSurviveSIGKILL$", killChildEnv+"="+path, "writes")

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
	for _, id := range acked {
		if !have[id] {
			t.Errorf("acknowledged tenant %s is missing after SIGKILL", id)
		}
	}
}

func writeUntilKilled(path string) {
	ctx := context.Background()
	s, err := Open(ctx, path)
	vaulttest.ExitOnError(err)
	for i := 0; ; i++ {
		id := fmt.Sprintf("tenant-%06d", i)
		vaulttest.ExitOnError(s.CreateTenant(ctx, directory.Tenant{ID: id, Name: id}))
		fmt.Println("acked " + id)
	}
}
