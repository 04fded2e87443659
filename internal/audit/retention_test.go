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
	t0 := time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name        string
		sink        *bufferSink
		maxAge      time.Duration
		maxRows     int64
		wantShipped int
		wantPruned  int
		wantLeft    int
	}{
		// Ten records one hour apart up to t0; a pass at t0; an eleventh
		// record; a pass ShipSettle later, which ships the ten the first
		// pass saw (not the eleventh: it has not settled).
		{"age without shipping", nil, 5 * time.Hour, 0, 0, 5, 6},
		{"age with shipping", &bufferSink{}, 5 * time.Hour, 0, 10, 5, 6},
		{"rows with shipping", &bufferSink{}, 0, 3, 10, 8, 3},
		{"no bound: shipped and kept", &bufferSink{}, 0, 0, 10, 0, 11},
		{"age: all past it, the unshipped one kept", &bufferSink{}, time.Second, 0, 10, 10, 1},
		{"age: all past it, no shipping", nil, time.Second, 0, 0, 11, 0},
		{"shipping fails: nothing pruned", &bufferSink{syncErr: errors.New("disk full")}, time.Second, 0, 0, 0, 11},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := sqlitetest.Open(t)
			add := func(at time.Time, op string) {
				t.Helper()
				if err := st.AppendAuditLog(ctx, audit.Record{Time: at, AppID: "a", Operation: op, Outcome: audit.OutcomeSuccess}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 10 {
				add(t0.Add(-time.Duration(9-i)*time.Hour), fmt.Sprint("op", i))
			}
			now := t0
			k := &audit.Keeper{Store: st, MaxAge: tc.maxAge, MaxRows: tc.maxRows, Now: func() time.Time { return now }}
			if tc.sink != nil {
				k.Sink = tc.sink
			}
			failing := tc.sink != nil && tc.sink.syncErr != nil
			var total audit.Report
			pass := func() {
				t.Helper()
				rep, err := k.RunOnce(ctx)
				if err != nil && !failing {
					t.Fatal(err)
				}
				total.Shipped += rep.Shipped
				total.Pruned += rep.Pruned
			}
			pass()
			add(t0.Add(30*time.Second), "op10")
			now = t0.Add(audit.ShipSettle)
			pass()
			if total.Shipped != tc.wantShipped || total.Pruned != tc.wantPruned {
				t.Errorf("passes = %+v, want shipped %d, pruned %d", total, tc.wantShipped, tc.wantPruned)
			}
			left, err := st.ListAuditLog(ctx, audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != tc.wantLeft {
				t.Errorf("%d records left, want %d", len(left), tc.wantLeft)
			}
			if failing {
				if c, _ := st.AuditCursor(ctx, audit.ShipCursor); c != 0 {
					t.Errorf("the cursor moved to %d although the sink failed", c)
				}
				return
			}
			if tc.sink == nil {
				return
			}
			seqs := shippedSeqs(t, tc.sink.Bytes())
			if len(seqs) != tc.wantShipped {
				t.Fatalf("sink holds %d records, want %d", len(seqs), tc.wantShipped)
			}
			// Every pruned record was shipped.
			kept := map[int64]bool{}
			for _, r := range left {
				kept[r.Seq] = true
			}
			shipped := map[int64]bool{}
			for _, s := range seqs {
				shipped[s] = true
			}
			for s := int64(1); s <= 11; s++ {
				if !kept[s] && !shipped[s] {
					t.Errorf("record %d was pruned but not shipped", s)
				}
			}
			// A later pass ships the eleventh, and nothing twice.
			now = now.Add(audit.ShipSettle)
			pass()
			seqs = shippedSeqs(t, tc.sink.Bytes())
			if len(seqs) != 11 || seqs[10] != 11 {
				t.Errorf("after a third pass the sink holds seqs %v, want 1..11 once each", seqs)
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
