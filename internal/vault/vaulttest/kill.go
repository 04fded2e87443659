package vaulttest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/vault"
)

// KillChild starts the test binary again as a child that runs only the tests
// matching run, with env ("NAME=value") added to its environment, reads the
// "acked <id>" lines it prints until 25 arrived, kills it with SIGKILL, and
// returns every id it acknowledged, those printed before the kill landed
// included; what names the ids in the failure when fewer than 25 arrived.
func KillChild(t *testing.T, run, env, what string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+run)
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
	for sc.Scan() { // ids acknowledged before the kill landed
		if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked = append(acked, id)
		}
	}
	cmd.Wait()
	if len(acked) < 25 {
		t.Fatalf("the child acknowledged only %d %s", len(acked), what)
	}
	return acked
}

// ExitOnError is for the child side of KillChild: it prints a non-nil err
// and exits with status 2, which the parent notices as too few
// acknowledgements.
func ExitOnError(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// killSealed is the sealed blob the kill child writes for version id, so
// that the parent can tell an intact blob from a torn one.
func killSealed(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return bytes.Repeat(sum[:], 64) // 2 KiB
}

func killVersionID(i int) string { return fmt.Sprintf("%032x", i+1) }

// WriteVersionsUntilKilled is the child side of KillChild for a vault
// store: it creates vault "kill" and adds versions of secret "hot" forever,
// printing "acked <version>" for each acknowledged one; it exits with
// status 2 on an error.
func WriteVersionsUntilKilled(ctx context.Context, s vault.Store) {
	ExitOnError(s.CreateVault(ctx, vault.Vault{Name: "kill", SoftDeleteRetentionDays: 7}))
	for i := 0; ; i++ {
		id := killVersionID(i)
		v := vault.ObjectVersion{Vault: "kill", Type: vault.Secrets, Name: "hot", Version: id, Enabled: true, Sealed: killSealed(id), Tags: map[string]string{"i": fmt.Sprint(i)}}
		_, err := s.AddVersion(ctx, v, vault.AddOptions{})
		ExitOnError(err)
		fmt.Println("acked " + id)
	}
}

// CheckAckedVersions checks, after WriteVersionsUntilKilled was killed,
// that every acknowledged version is in s with an intact sealed blob, that
// the versions present are in order and untorn, and that s still takes
// writes; when ("after the kill", "after reopen") names the moment in the
// failure of that last write.
func CheckAckedVersions(t *testing.T, s vault.Store, acked []string, when string) {
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
	// The store still takes writes after the crash: the killed writer's
	// locks are gone.
	if _, err := s.AddVersion(ctx, vault.ObjectVersion{Vault: "kill", Type: vault.Secrets, Name: "hot", Version: "f" + killVersionID(0)[1:], Sealed: []byte("x")}, vault.AddOptions{}); err != nil {
		t.Fatalf("write %s: %v", when, err)
	}
}

// RoundTripKeepsNilEmptyAndZero checks that s, a SQL store that keeps
// times in UTC to the microsecond, returns from AddVersion and GetVersion
// exactly what it was given: nil and empty slices and tags, zero and
// non-zero times.
func RoundTripKeepsNilEmptyAndZero(t *testing.T, s vault.Store) {
	t.Helper()
	ctx := context.Background()
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
