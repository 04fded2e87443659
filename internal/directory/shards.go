package directory

import "maps"

// shardCount is how many maps an index is split into. A change clones only
// the shards it writes to, so a change to one application of n copies about
// n/shardCount entries per index, not n.
const shardCount = 256

// shards is a string-keyed index split into shardCount maps by a hash of
// the key. A snapshot's shards are never written once it is published.
type shards[V any] [shardCount]map[string]V

// shardOf is FNV-1a of k, reduced to a shard index.
func shardOf(k string) int {
	h := uint32(2166136261)
	for i := 0; i < len(k); i++ {
		h ^= uint32(k[i])
		h *= 16777619
	}
	return int(h % shardCount)
}

func (s *shards[V]) get(k string) (V, bool) {
	v, ok := s[shardOf(k)][k]
	return v, ok
}

// cow writes to shards copy-on-write: the first write to a shard replaces it
// with a clone, which later writes of the same edit then modify in place.
type cow[V any] struct {
	m      *shards[V]
	cloned [shardCount]bool
}

func (c *cow[V]) get(k string) (V, bool) { return c.m.get(k) }

func (c *cow[V]) shard(k string) map[string]V {
	i := shardOf(k)
	if !c.cloned[i] {
		if c.m[i] == nil {
			c.m[i] = make(map[string]V)
		} else {
			c.m[i] = maps.Clone(c.m[i])
		}
		c.cloned[i] = true
	}
	return c.m[i]
}

func (c *cow[V]) put(k string, v V) { c.shard(k)[k] = v }

func (c *cow[V]) del(k string) {
	if _, ok := c.get(k); ok {
		delete(c.shard(k), k)
	}
}
