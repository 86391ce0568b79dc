package metrics

import "sync/atomic"

// Counter counts events reported by any number of goroutines at once.
// Keep it off paths that run for every message: there, use Locals that
// are summed when read.
type Counter struct{ v atomic.Uint64 }

// Add adds n and returns the new count.
func (c *Counter) Add(n uint64) uint64 { return c.v.Add(n) }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Load returns the count.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Local is a counter with one writer at a time: a goroutine of its own,
// or whoever holds the lock that guards its owner. Add is then a plain
// load and store, with no locked instruction and no cache line shared with
// other writers, and any goroutine may Load it. Concurrent Adds would lose
// counts (never corrupt them), so a Local belongs to one connection, one
// session or one shard, and the reader sums them.
type Local struct{ v atomic.Uint64 }

// Add adds n. The caller is the Local's only writer at this moment.
func (c *Local) Add(n uint64) { c.v.Store(c.v.Load() + n) }

// Inc adds one, as Add(1).
func (c *Local) Inc() { c.v.Store(c.v.Load() + 1) }

// Load returns the count.
func (c *Local) Load() uint64 { return c.v.Load() }

// Gauge is a value that goes up and down, changed by any goroutine.
type Gauge struct{ v atomic.Int64 }

// Add adds n, which may be negative, and returns the new value.
func (g *Gauge) Add(n int64) int64 { return g.v.Add(n) }

// Set replaces the value.
func (g *Gauge) Set(n int64) { g.v.Store(n) }

// Load returns the value.
func (g *Gauge) Load() int64 { return g.v.Load() }
