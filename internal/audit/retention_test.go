package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/store/sqlite/sqlitetest"
)

// bufferSink is a Sink in memory whose Sync can be made to fail.
type bufferSink struct {
	bytes.Buffer
	syncErr error
}

func (b *bufferSink) Sync() error { return b.syncErr }

func shippedSeqs(t *testing.T, b []byte) []int64 {
	t.Helper()
	var seqs []int64
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("shipped line %q is not a record: %v", sc.Text(), err)
		}
		if r.Operation == "" || r.Time.IsZero() {
			t.Fatalf("shipped record lacks fields: %q", sc.Text())
		}
		seqs = append(seqs, r.Seq)
	}
	return seqs
}

func TestKeeper_ShipsBeforePruningAndPrunesOnlyWhatWasShipped(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name        string
		sink        *bufferSink
		maxAge      time.Duration
		maxRows     int64
		wantShipped int
		wantPruned  int
		wantLeft    int
	}{
		// 10 records, one per hour ending 30 s ago: the newest is not
		// settled (ShipSettle) and so is neither shipped nor prunable.
		{"age without shipping", nil, 5 * time.Hour, 0, 0, 5, 5},
		{"age with shipping", &bufferSink{}, 5 * time.Hour, 0, 9, 5, 5},
		{"rows with shipping", &bufferSink{}, 0, 3, 9, 7, 3},
		{"no bound: shipped and kept", &bufferSink{}, 0, 0, 9, 0, 10},
		{"age: all past it, the unshipped one kept", &bufferSink{}, time.Second, 0, 9, 9, 1},
		{"age: all past it, no shipping", nil, time.Second, 0, 0, 10, 0},
		{"shipping fails: nothing pruned", &bufferSink{syncErr: errors.New("disk full")}, time.Hour, 0, 0, 0, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := sqlitetest.Open(t)
			var recs []audit.Record
			for i := range 10 {
				recs = append(recs, audit.Record{Time: now.Add(-30*time.Second - time.Duration(9-i)*time.Hour), AppID: "a", Operation: fmt.Sprint("op", i), Outcome: audit.OutcomeSuccess})
			}
			if err := st.AppendAuditLog(ctx, recs...); err != nil {
				t.Fatal(err)
			}
			k := &audit.Keeper{Store: st, MaxAge: tc.maxAge, MaxRows: tc.maxRows, Now: func() time.Time { return now }}
			if tc.sink != nil {
				k.Sink = tc.sink
			}
			rep, err := k.RunOnce(ctx)
			if tc.sink != nil && tc.sink.syncErr != nil {
				if err == nil {
					t.Fatal("RunOnce succeeded although the sink failed")
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if rep.Shipped != tc.wantShipped || rep.Pruned != tc.wantPruned {
				t.Errorf("RunOnce = %+v, want shipped %d, pruned %d", rep, tc.wantShipped, tc.wantPruned)
			}
			left, err := st.ListAuditLog(ctx, audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != tc.wantLeft {
				t.Errorf("%d records left, want %d", len(left), tc.wantLeft)
			}
			if tc.sink != nil && tc.sink.syncErr == nil {
				seqs := shippedSeqs(t, tc.sink.Bytes())
				if len(seqs) != tc.wantShipped {
					t.Fatalf("sink holds %d records, want %d", len(seqs), tc.wantShipped)
				}
				// Every pruned record was shipped.
				oldestLeft := int64(11)
				if len(left) > 0 {
					oldestLeft = left[len(left)-1].Seq
				}
				for s := int64(1); s < oldestLeft; s++ {
					if s > seqs[len(seqs)-1] {
						t.Errorf("record %d was pruned but not shipped", s)
					}
				}
				// A second pass ships nothing twice.
				before := tc.sink.Len()
				if _, err := k.RunOnce(ctx); err != nil {
					t.Fatal(err)
				}
				if tc.sink.Len() != before {
					t.Errorf("a second pass shipped again: %q", tc.sink.Bytes()[before:])
				}
			}
			if tc.sink != nil && tc.sink.syncErr != nil {
				if c, _ := st.AuditCursor(ctx, audit.ShipCursor); c != 0 {
					t.Errorf("the cursor moved to %d although the sink failed", c)
				}
			}
		})
	}
}

func TestFileSink_ReopensAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	s, err := audit.OpenSink(path)
	if err != nil {
		t.Fatal(err)
	}
	write := func(op string) {
		t.Helper()
		if err := audit.WriteJSONLines(s, []audit.Record{{Seq: 1, Time: time.Now(), Operation: op}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	write("first")
	if err := os.Rename(path, path+".1"); err != nil { // what logrotate does
		t.Fatal(err)
	}
	write("second")
	for file, want := range map[string]string{path + ".1": "first", path: "second"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(`"operation":"`+want+`"`)) || bytes.Count(b, []byte("\n")) != 1 {
			t.Errorf("%s = %q, want one line of %s", file, b, want)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the sink file's mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if _, err := audit.OpenSink(filepath.Join(dir, "missing", "x.jsonl")); err == nil {
		t.Error("OpenSink of a path in a missing directory succeeded")
	}
}
