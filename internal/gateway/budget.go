package gateway

import (
	"errors"
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// BudgetConfig bounds failed authentications per source address: a token
// bucket of Burst failures refilled at PerMinute; a source with an empty
// bucket is answered 429 before any credential is looked at.
type BudgetConfig struct {
	PerMinute  float64 // default 30
	Burst      int     // default 30
	MaxSources int     // addresses remembered at once (default 100,000); the least useful are evicted
}

const budgetShards = 64

type budget struct {
	rate  float64 // tokens per nanosecond
	burst float64
	max   int // per shard
	seed  maphash.Seed

	shards [budgetShards]budgetShard
}

type budgetShard struct {
	mu sync.Mutex
	m  map[netip.Addr]bucket
	// n mirrors len(m) so that the common case, a shard with no failing
	// source, costs one atomic load and no lock.
	n atomic.Int32
}

type bucket struct {
	tokens float64
	at     int64 // unix nanoseconds of the last update
}

func newBudget(c BudgetConfig) (*budget, error) {
	if c.PerMinute < 0 || c.Burst < 0 || c.MaxSources < 0 {
		return nil, errors.New("gateway: FailureBudget values must not be negative")
	}
	if c.PerMinute == 0 {
		c.PerMinute = 30
	}
	if c.Burst == 0 {
		c.Burst = 30
	}
	if c.MaxSources == 0 {
		c.MaxSources = 100_000
	}
	b := &budget{rate: c.PerMinute / float64(time.Minute), burst: float64(c.Burst),
		max: max(1, c.MaxSources/budgetShards), seed: maphash.MakeSeed()}
	for i := range b.shards {
		b.shards[i].m = map[netip.Addr]bucket{}
	}
	return b, nil
}

func (b *budget) shard(a netip.Addr) *budgetShard {
	return &b.shards[maphash.Comparable(b.seed, a)%budgetShards]
}

// level is the bucket's content at now.
func (b *budget) level(k bucket, now int64) float64 {
	return math.Min(b.burst, k.tokens+float64(now-k.at)*b.rate)
}

// wait returns how long src must wait before its next attempt is looked
// at; 0 when it is within its budget.
func (b *budget) wait(src netip.Addr, now time.Time) time.Duration {
	s := b.shard(src)
	if s.n.Load() == 0 {
		return 0
	}
	s.mu.Lock()
	k, ok := s.m[src]
	s.mu.Unlock()
	if !ok {
		return 0
	}
	lvl := b.level(k, now.UnixNano())
	if lvl >= 1 {
		return 0
	}
	return time.Duration((1 - lvl) / b.rate)
}

// fail takes one failure from src's budget.
func (b *budget) fail(src netip.Addr, now time.Time) { b.take(src, 1, now) }

// take takes n failures that another node counted from src's budget; the
// bucket may go below zero (down to minus the burst), so that src stays
// refused until the whole cluster's failures have refilled.
func (b *budget) take(src netip.Addr, n int, now time.Time) {
	if n <= 0 {
		return
	}
	t := now.UnixNano()
	s := b.shard(src)
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.m[src]
	if !ok {
		k = bucket{tokens: b.burst, at: t}
		if len(s.m) >= b.max {
			b.evict(s, t)
		}
	}
	k.tokens = math.Max(-b.burst, b.level(k, t)-float64(n))
	k.at = t
	s.m[src] = k
	s.n.Store(int32(len(s.m)))
}

// A FailureLog hears every failed authentication the gateway counts (see
// Config.FailureLog).
type FailureLog interface {
	RecordFailure(scope string, key [16]byte)
}

// FailureScopeSource is the gateway's failure scope as named to a
// FailureLog: the key is the budget key of the source address (IPv4, or
// an IPv6 /64) in its 16-byte form.
const FailureScopeSource = "gateway.source"

// TakeFailures applies n failed authentications that another node counted
// for key in scope to this gateway's budget. Unknown scopes are ignored.
func (g *Gateway) TakeFailures(scope string, key [16]byte, n int, now time.Time) {
	if scope != FailureScopeSource {
		return
	}
	g.budget.take(budgetKey(netip.AddrFrom16(key).Unmap()), n, now)
}

// evict makes room in a full shard: first every source whose bucket is
// full again (it is as if it were unknown), else one arbitrary source.
func (b *budget) evict(s *budgetShard, now int64) {
	for a, k := range s.m {
		if b.level(k, now) >= b.burst {
			delete(s.m, a)
		}
	}
	if len(s.m) < b.max {
		return
	}
	for a := range s.m {
		delete(s.m, a)
		break
	}
}

// sourceAddr is the client's address from r.RemoteAddr ("ip:port" or a
// bare ip); the zero Addr when it is neither.
func sourceAddr(remoteAddr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if a, err := netip.ParseAddr(remoteAddr); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}

// budgetKey is the budget key of a client address: the address for IPv4,
// its /64 for IPv6 (one host usually holds a whole /64).
func budgetKey(a netip.Addr) netip.Addr {
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}
