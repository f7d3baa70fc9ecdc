// Package cache is a small map cache for state derived from the log (apps,
// collection definitions) that is invalidated as events are applied. A fill
// that started before an invalidation is dropped, so a slow reader can never
// put a stale value back after the event that changed it.
package cache

import "sync"

// Cache maps keys to values, guarded by a generation counter.
type Cache[V any] struct {
	mu  sync.RWMutex
	gen uint64
	m   map[string]V
}

// New returns an empty cache.
func New[V any]() *Cache[V] { return &Cache[V]{m: map[string]V{}} }

// Get returns the cached value for k.
func (c *Cache[V]) Get(k string) (V, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	return v, ok
}

// Gen returns the current generation: take it before loading a value, and
// pass it to Fill.
func (c *Cache[V]) Gen() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// Fill stores v under the keys unless something was invalidated since gen.
func (c *Cache[V]) Fill(gen uint64, v V, keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	for _, k := range keys {
		c.m[k] = v
	}
}

// Invalidate drops the keys and starts a new generation.
func (c *Cache[V]) Invalidate(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		delete(c.m, k)
	}
}
