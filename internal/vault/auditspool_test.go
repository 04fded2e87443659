package vault

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// FuzzAuditSpoolLine: a spool line (a file on disk that a crash may have
// cut or a disk may have damaged) never panics the decoder, and what it
// accepts is an audit record that encodes back to an equal record.
func FuzzAuditSpoolLine(f *testing.F) {
	good, _ := json.Marshal(AuditRecord{Time: time.Unix(1700000000, 5).UTC(), RequestID: "r", AppID: "a", Vault: "default",
		Type: Secrets, Name: "s", Operation: string(PermSecretsGet), Outcome: OutcomeSuccess})
	f.Add(append(good, '\n'))
	f.Add(good[:len(good)/2])
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"Time":"not a time","Operation":"x"}`))
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := decodeSpoolLine(line)
		if err != nil {
			return
		}
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatalf("accepted record does not encode: %v", err)
		}
		again, err := decodeSpoolLine(b)
		if err != nil || !reflect.DeepEqual(again, rec) {
			t.Fatalf("round trip: %+v %v, want %+v", again, err, rec)
		}
	})
}

// TestAuditSpool_LinesWithoutIDGetTheSameIDAtEveryReplay: a spool written
// before records had IDs is replayed with an ID per line that is the same
// at every reading (after a restart too), different for different lines
// (even byte-identical ones), while a line's own ID is kept.
func TestAuditSpool_LinesWithoutIDGetTheSameIDAtEveryReplay(t *testing.T) {
	dir := t.TempDir()
	at := time.Unix(1700000000, 5).UTC()
	old := `{"Time":"` + at.Format(time.RFC3339Nano) + `","RequestID":"r1","Vault":"default","Operation":"secrets/getSecret","Outcome":"success"}` + "\n"
	withID := `{"ID":"own-id","Time":"` + at.Format(time.RFC3339Nano) + `","RequestID":"r2","Vault":"default","Operation":"secrets/getSecret","Outcome":"success"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, AuditSpoolFile), []byte(old+old+withID), 0o600); err != nil {
		t.Fatal(err)
	}
	read := func() []string {
		t.Helper()
		sp, err := openAuditSpool(dir, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer sp.close()
		recs, _, err := sp.next(10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		return ids
	}
	first, again := read(), read()
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{"three records", len(first) == 3 && len(again) == 3},
		{"the same IDs at the second reading", slices.Equal(first, again)},
		{"IDs given to the lines without", len(first) == 3 && first[0] != "" && first[1] != ""},
		{"alike lines told apart", len(first) == 3 && first[0] != first[1]},
		{"a line's own ID kept", len(first) == 3 && first[2] == "own-id"},
	} {
		if !c.ok {
			t.Errorf("%s: IDs %q then %q", c.what, first, again)
		}
	}
}
