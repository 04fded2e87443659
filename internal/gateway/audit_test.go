package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The audit writer's queue: concurrent adds all reach the sink, each line
// once, and a record added after the writer has closed is counted as
// dropped rather than lost silently.
func TestAuditWriter_ConcurrentAddsAreWrittenOnceAndLateOnesCounted(t *testing.T) {
	for _, tc := range []struct {
		name          string
		writers, each int
	}{
		{"one writer", 1, 500},
		{"four writers", 4, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var out bytes.Buffer
			sink := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
			dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
			a := newAuditWriter(sink, defaultAuditQueue, dropped, slog.New(slog.DiscardHandler))
			var wg sync.WaitGroup
			for w := range tc.writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range tc.each {
						a.add(auditRecord{id: strconv.Itoa(w) + "-" + strconv.Itoa(i), outcome: "allowed", status: 200})
					}
				}()
			}
			wg.Wait()
			if err := a.close(context.Background()); err != nil {
				t.Fatal(err)
			}
			a.add(auditRecord{id: "late"})
			if got := testutil.ToFloat64(dropped); got != 1 {
				t.Errorf("dropped = %v, want 1 (the record added after close)", got)
			}
			seen := map[string]bool{}
			sc := bufio.NewScanner(&out)
			for sc.Scan() {
				var line struct {
					DecisionID string `json:"decisionId"`
				}
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("line %q: %v", sc.Text(), err)
				}
				if seen[line.DecisionID] {
					t.Fatalf("decision %s written twice", line.DecisionID)
				}
				seen[line.DecisionID] = true
			}
			if len(seen) != tc.writers*tc.each {
				t.Errorf("%d lines, want %d", len(seen), tc.writers*tc.each)
			}
		})
	}
}

// The hand-written formats of the audit line are those of the standard
// library they replace.
func TestAuditLine_TimeAndMillisFormatsMatchTheStandardLibrary(t *testing.T) {
	for _, tc := range []time.Time{
		time.Date(2026, 12, 6, 1, 50, 27, 554287821, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 100000000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 6, 1, 12, 0, 0, 5, time.FixedZone("CEST", 2*3600)),
	} {
		if got, want := string(appendRFC3339Nano(nil, tc)), tc.UTC().Format(time.RFC3339Nano); got != want {
			t.Errorf("appendRFC3339Nano(%v) = %q, want %q", tc, got, want)
		}
	}
	for _, us := range []int64{0, 1, 10, 100, 312, 1000, 1500, 1234567, 999999999, -2500} {
		if got, want := string(appendMillis(nil, us)), strconv.FormatFloat(float64(us)/1000, 'f', -1, 64); got != want {
			t.Errorf("appendMillis(%d) = %q, want %q", us, got, want)
		}
	}
}

func FuzzAuditLine_TimeAndMillisFormats(f *testing.F) {
	f.Add(int64(1796521827), int64(554287821), int64(312))
	f.Fuzz(func(t *testing.T, sec, nsec, us int64) {
		tm := time.Unix(sec%(1<<40), nsec%1e9)
		if got, want := string(appendRFC3339Nano(nil, tm)), tm.UTC().Format(time.RFC3339Nano); got != want {
			t.Errorf("appendRFC3339Nano(%v) = %q, want %q", tm, got, want)
		}
		us %= 1 << 50
		if got, want := string(appendMillis(nil, us)), strconv.FormatFloat(float64(us)/1000, 'f', -1, 64); got != want {
			t.Errorf("appendMillis(%d) = %q, want %q", us, got, want)
		}
	})
}
