package resolve

import (
	"container/list"
	"sync"
)

// Plan cache defaults (Options.PlanCacheEntries, Options.PlanCacheBytes).
const (
	DefaultPlanCacheEntries = 1024
	DefaultPlanCacheBytes   = 64 << 20
)

// planCost estimates the memory a cached plan holds: the engine's plan objects (fetches,
// response tree, field and variable configurations) grow with the operation's normalized
// text; measured plans of edgate's test operations hold 10 to 20 times their text, plus a
// fixed part.
func planCost(normalized string) int64 { return 4<<10 + 24*int64(len(normalized)) }

// planCache maps normalized operations to plans, least recently used first out, bounded by
// entries and by estimated bytes, so that distinct operations (pathological or not) cannot
// grow memory without bound. Planning is the expensive step; parsing and normalizing per
// request keeps extracted variables correct without a second cache.
type planCache struct {
	mu         sync.Mutex
	plans      map[uint64]*list.Element
	lru        list.List // of *cachedPlan, most recently used first
	bytes      int64
	maxEntries int
	maxBytes   int64
}

func newPlanCache(maxEntries int, maxBytes int64) *planCache {
	if maxEntries <= 0 {
		maxEntries = DefaultPlanCacheEntries
	}
	if maxBytes <= 0 {
		maxBytes = DefaultPlanCacheBytes
	}
	return &planCache{plans: make(map[uint64]*list.Element), maxEntries: maxEntries, maxBytes: maxBytes}
}

func (c *planCache) get(key uint64) (*cachedPlan, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.plans[key]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cachedPlan), true
}

// put adds p, evicting the least recently used plans until both bounds hold. A plan larger
// than the byte bound on its own is not kept.
func (c *planCache) put(p *cachedPlan) {
	cost := planCost(p.normalized)
	if cost > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.plans[p.key]; ok {
		c.lru.MoveToFront(el)
		return
	}
	c.plans[p.key] = c.lru.PushFront(p)
	c.bytes += cost
	for c.lru.Len() > c.maxEntries || c.bytes > c.maxBytes {
		el := c.lru.Back()
		old := el.Value.(*cachedPlan)
		c.lru.Remove(el)
		delete(c.plans, old.key)
		c.bytes -= planCost(old.normalized)
	}
}

// len returns the number of cached plans and their estimated bytes.
func (c *planCache) len() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}
