package failureshare

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store: one table of batches shared by the
// Exchanges of a test, as the database is by the nodes.
type memStore struct {
	mu      sync.Mutex
	rows    []memRow
	next    int64
	failing bool
}

type memRow struct {
	id     int64
	node   string
	at     time.Time
	counts []byte
}

var errDown = errors.New("database unreachable")

func (m *memStore) AppendFailures(_ context.Context, node string, at time.Time, counts []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing {
		return errDown
	}
	m.next++
	m.rows = append(m.rows, memRow{m.next, node, at, bytes.Clone(counts)})
	return nil
}

func (m *memStore) FailuresAfter(_ context.Context, node string, after int64, skip []int64, limit int) ([]Batch, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing {
		return nil, errDown
	}
	var out []Batch
	for _, r := range m.rows {
		if r.id > after && r.node != node && !slices.Contains(skip, r.id) && len(out) < limit {
			out = append(out, Batch{ID: r.id, Counts: r.counts})
		}
	}
	return out, nil
}

func (m *memStore) LastFailureID(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing {
		return 0, errDown
	}
	return m.next, nil
}

func (m *memStore) PruneFailures(_ context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.rows)
	m.rows = slices.DeleteFunc(m.rows, func(r memRow) bool { return r.at.Before(before) })
	return int64(n - len(m.rows)), nil
}

// sink records what an Exchange applied.
type sink struct {
	mu  sync.Mutex
	got map[string]int // scope/key[0] → failures
}

func (s *sink) into(scope string) Sink {
	return func(key [16]byte, n int, _ time.Time) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.got == nil {
			s.got = map[string]int{}
		}
		s.got[scope+"/"+string(rune('a'+key[0]))] += n
	}
}

func TestExchange_EachNodeAppliesTheOthersFailuresOnce(t *testing.T) {
	st := &memStore{}
	ctx := context.Background()
	nodes := make([]*Exchange, 3)
	sinks := make([]*sink, 3)
	for i := range nodes {
		nodes[i] = New(Config{Store: st, Node: string(rune('A' + i))})
		sinks[i] = &sink{}
		nodes[i].Register("sts.client", sinks[i].into("sts.client"))
		nodes[i].Register("gateway.source", sinks[i].into("gateway.source"))
		if err := nodes[i].Sync(ctx); err != nil { // starts at the current end
			t.Fatal(err)
		}
	}
	key := func(b byte) [16]byte { return [16]byte{b} }
	for range 5 {
		nodes[0].RecordFailure("sts.client", key(0))
	}
	nodes[0].RecordFailure("gateway.source", key(1))
	nodes[1].RecordFailure("sts.client", key(0))
	nodes[1].RecordFailure("unknown.scope", key(2)) // a newer node's scope: ignored by the others
	for range 2 {
		for _, n := range nodes {
			if err := n.Sync(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, want := range []map[string]int{
		{"sts.client/a": 1},
		{"sts.client/a": 5, "gateway.source/b": 1},
		{"sts.client/a": 6, "gateway.source/b": 1},
	} {
		if got := sinks[i].got; !mapsEqual(got, want) {
			t.Errorf("node %d applied %v; want %v", i, got, want)
		}
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestExchange_CountsWaitWhileTheDatabaseIsDown(t *testing.T) {
	st := &memStore{}
	ctx := context.Background()
	a, b := New(Config{Store: st, Node: "A"}), New(Config{Store: st, Node: "B"})
	got := &sink{}
	b.Register("sts.source", got.into("sts.source"))
	for _, x := range []*Exchange{a, b} {
		if err := x.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	st.failing = true
	a.RecordFailure("sts.source", [16]byte{})
	if err := a.Sync(ctx); !errors.Is(err, errDown) {
		t.Fatalf("Sync with the database down = %v", err)
	}
	a.RecordFailure("sts.source", [16]byte{})
	st.failing = false
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got.got["sts.source/a"] != 2 {
		t.Fatalf("node B applied %v; want both failures counted during the outage", got.got)
	}
}

func TestEncode_RoundTripsAndRefusesDamage(t *testing.T) {
	in := map[pendingKey]uint32{{"sts.client", [16]byte{1, 2}}: 7, {"gateway.source", [16]byte{15: 9}}: 1 << 20}
	b := encode(in)
	out := map[pendingKey]uint32{}
	if err := decode(b, func(scope string, key [16]byte, n uint32) { out[pendingKey{scope, key}] += n }); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) || out[pendingKey{"sts.client", [16]byte{1, 2}}] != 7 {
		t.Fatalf("decode(encode(x)) = %v; want %v", out, in)
	}
	for _, bad := range [][]byte{b[:len(b)-1], {200}, {3, 'a'}} {
		if err := decode(bad, func(string, [16]byte, uint32) {}); err == nil {
			t.Errorf("decode(%x) accepted damaged input", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(map[pendingKey]uint32{{"sts.client", [16]byte{1}}: 3}))
	f.Add([]byte{})
	f.Add([]byte{64})
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		err := decode(b, func(scope string, _ [16]byte, _ uint32) {
			if len(scope) > maxScopeLen {
				t.Fatalf("scope of %d bytes", len(scope))
			}
			total += entryFixed + len(scope)
		})
		if total > len(b) || err == nil && total != len(b) {
			t.Fatalf("decoded %d of %d bytes (err %v)", total, len(b), err)
		}
	})
}
