package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/vaulttest"
)

func TestVault_Conformance(t *testing.T) {
	vaulttest.Run(t, func(t *testing.T) vault.Store { return OpenTestStore(t) })
}

func TestVault_RoundTripKeepsNilEmptyAndZero(t *testing.T) {
	ctx := context.Background()
	s := OpenTestStore(t)
	if err := s.CreateVault(ctx, vault.Vault{Name: "v1", SoftDeleteRetentionDays: 7}); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		name string
		in   vault.ObjectVersion
	}{
		{"nil-slices-and-tags-zero-times", vault.ObjectVersion{}},
		{"empty-slices-and-tags", vault.ObjectVersion{Sealed: []byte{}, Public: []byte{}, Meta: []byte{}, Tags: map[string]string{}}},
		{"values", vault.ObjectVersion{Sealed: []byte{0, 1, 2, 255}, Public: []byte("p"), Meta: []byte(`{}`), Tags: map[string]string{"k": "v", "é": "\u0000"},
			NotBefore: created, Expires: created.Add(time.Hour), ContentType: "application/x-pkcs12", Enabled: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Vault, in.Type, in.Name, in.Version, in.Created, in.Updated = "V1", vault.Keys, tc.name, "0123456789abcdef0123456789abcdef", created, created
			out, err := s.AddVersion(ctx, in, vault.AddOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.GetVersion(ctx, "v1", vault.Keys, in.Name, "")
			if err != nil {
				t.Fatal(err)
			}
			want := in
			want.Seq, want.Vault = out.Seq, "v1"
			want.Created, want.Updated = created.UTC().Truncate(time.Microsecond), created.UTC().Truncate(time.Microsecond)
			if !in.NotBefore.IsZero() {
				want.NotBefore, want.Expires = in.NotBefore.UTC().Truncate(time.Microsecond), in.Expires.UTC().Truncate(time.Microsecond)
			}
			for what, v := range map[string]vault.ObjectVersion{"AddVersion": out, "GetVersion": got} {
				if !reflect.DeepEqual(v, want) {
					t.Errorf("%s returned\n%#v\nwant\n%#v", what, v, want)
				}
			}
		})
	}
}

func TestVault_RevisionMovesForObjectsNotForAudit(t *testing.T) {
	ctx := context.Background()
	s := OpenTestStore(t)
	rev := func() int64 {
		r, err := s.Revision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := rev()
	if err := s.CreateVault(ctx, vault.Vault{Name: "v1", SoftDeleteRetentionDays: 7}); err != nil {
		t.Fatal(err)
	}
	if rev() != before+1 {
		t.Fatalf("CreateVault moved the revision from %d to %d, want +1", before, rev())
	}
	before = rev()
	if err := s.AppendAudit(ctx, vault.AuditRecord{Vault: "v1", Operation: "secrets/getSecret", Outcome: vault.OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkLifetimeAction(ctx, vault.LifetimeMarker{Vault: "v1", Name: "c", Version: "1", Action: "AutoRenew", Trigger: "daysBeforeExpiry=30"}); err != nil {
		t.Fatal(err)
	}
	if rev() != before {
		t.Fatalf("audit and markers moved the revision from %d to %d", before, rev())
	}
	// A refused write leaves the revision alone.
	if err := s.CreateVault(ctx, vault.Vault{Name: "V1"}); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("duplicate vault: %v", err)
	}
	if rev() != before {
		t.Fatalf("a refused write moved the revision")
	}
}

func TestVault_AuditRefusesUpdates(t *testing.T) {
	ctx := context.Background()
	s := OpenTestStore(t)
	if err := s.AppendAudit(ctx, vault.AuditRecord{Vault: "v1", Operation: "secrets/getSecret", Outcome: vault.OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	_, err := s.db.w.ExecContext(ctx, `UPDATE vault_audit SET outcome = 'denied'`)
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("UPDATE vault_audit = %v, want the append-only refusal", err)
	}
}

const vaultKillChildEnv = "PORTCULLIS_SQLITE_VAULT_KILL_CHILD_DB"

// TestVaultKill_AcknowledgedVersionsSurviveSIGKILL runs a child process that
// adds secret versions and reports each acknowledged one, kills it with
// SIGKILL while it writes, and checks that every acknowledged version is in
// the database, intact.
func TestVaultKill_AcknowledgedVersionsSurviveSIGKILL(t *testing.T) {
	if path := os.Getenv(vaultKillChildEnv); path != "" {
		addVersionsUntilKilled(path)
		return
	}
	path := filepath.Join(t.TempDir(), "portcullis.db")
	acked := runVaultKillChild(t, "^TestVaultKill_AcknowledgedVersionsSurviveSIGKILL$", vaultKillChildEnv+"="+path)
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkAckedVersions(t, s, acked)
}

// runVaultKillChild starts the test binary as a child running test, reads
// "acked <version>" lines until 25 arrived, SIGKILLs it, and returns every
// version it acknowledged.
func runVaultKillChild(t *testing.T, test, env string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+test)
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for len(acked) < 25 && sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked = append(acked, id)
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatal(err)
	}
	for sc.Scan() { // versions acknowledged before the kill landed
		if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked = append(acked, id)
		}
	}
	cmd.Wait()
	if len(acked) < 25 {
		t.Fatalf("the child acknowledged only %d versions", len(acked))
	}
	return acked
}

// killSealed is the sealed blob the kill child writes for version id, so
// that the parent can tell an intact blob from a torn one.
func killSealed(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return bytes.Repeat(sum[:], 64) // 2 KiB
}

func killVersionID(i int) string { return fmt.Sprintf("%032x", i+1) }

func addVersionsUntilKilled(path string) {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	writeVersionsUntilKilled(ctx, s)
}

// writeVersionsUntilKilled adds versions of secret "hot" forever, printing
// each acknowledged version id.
func writeVersionsUntilKilled(ctx context.Context, s vault.Store) {
	if err := s.CreateVault(ctx, vault.Vault{Name: "kill", SoftDeleteRetentionDays: 7}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		id := killVersionID(i)
		v := vault.ObjectVersion{Vault: "kill", Type: vault.Secrets, Name: "hot", Version: id, Enabled: true, Sealed: killSealed(id), Tags: map[string]string{"i": fmt.Sprint(i)}}
		if _, err := s.AddVersion(ctx, v, vault.AddOptions{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println("acked " + id)
	}
}

func checkAckedVersions(t *testing.T, s vault.Store, acked []string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range acked {
		v, err := s.GetVersion(ctx, "kill", vault.Secrets, "hot", id)
		if err != nil {
			t.Errorf("acknowledged version %s after SIGKILL: %v", id, err)
			continue
		}
		if !bytes.Equal(v.Sealed, killSealed(id)) {
			t.Errorf("acknowledged version %s came back with a different sealed blob", id)
		}
	}
	vers, err := s.ListVersions(ctx, "kill", vault.Secrets, "hot")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vers {
		if v.Version != killVersionID(i) || !bytes.Equal(v.Sealed, killSealed(v.Version)) {
			t.Fatalf("version %d of %d is %s, torn or out of order", i, len(vers), v.Version)
		}
	}
	// The store still takes writes after the crash.
	if _, err := s.AddVersion(ctx, vault.ObjectVersion{Vault: "kill", Type: vault.Secrets, Name: "hot", Version: "f" + killVersionID(0)[1:], Sealed: []byte("x")}, vault.AddOptions{}); err != nil {
		t.Fatalf("write after reopen: %v", err)
	}
}
