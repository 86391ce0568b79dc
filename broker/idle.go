package broker

import (
	"sync"
	"time"
)

// idleWheel watches the connect timeout and the keep-alive of the
// connections the Poller reads. A runtime timer per connection costs
// about 110 bytes; the wheel costs a slice entry. Time is cut into ticks
// of wheelTick, and a connection is filed under the tick its deadline
// falls in; a goroutine turns the wheel every tick and checks the
// connections filed under it, which end or are filed again for what is
// left. Deadlines further away than the wheel reaches are filed at its
// far end and filed again from there.
type idleWheel struct {
	mu    sync.Mutex
	slots [wheelSlots][]*conn
	// now is the tick the wheel has turned to.
	now int64
}

const (
	wheelTick  = 100 * time.Millisecond
	wheelSlots = 1024 // about 100 seconds ahead
)

// tickOf is the tick a deadline falls in, rounded up so that nothing is
// checked before its time.
func tickOf(t time.Time) int64 {
	return (t.UnixNano() + int64(wheelTick) - 1) / int64(wheelTick)
}

// schedule files c to be checked at due, unless it is already filed for
// that time or earlier: the earlier check files it again as needed.
func (w *idleWheel) schedule(c *conn, due time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := max(tickOf(due), w.now+1)
	t = min(t, w.now+wheelSlots-1)
	if c.wheelAt != 0 && c.wheelAt <= t {
		return
	}
	c.wheelAt = t
	w.slots[t%wheelSlots] = append(w.slots[t%wheelSlots], c)
}

// start sets the wheel to the present; call it before schedule.
func (w *idleWheel) start() {
	w.mu.Lock()
	w.now = tickOf(time.Now())
	w.mu.Unlock()
}

// run turns the wheel until done is closed.
func (w *idleWheel) run(done <-chan struct{}) {
	tk := time.NewTicker(wheelTick)
	defer tk.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-tk.C:
			w.turn(tickOf(now))
		}
	}
}

// turn checks every connection filed under the ticks up to to.
func (w *idleWheel) turn(to int64) {
	var due []*conn
	w.mu.Lock()
	for ; w.now < to; w.now++ {
		t := w.now + 1
		slot := &w.slots[t%wheelSlots]
		for _, c := range *slot {
			// A connection filed again for an earlier tick, or already
			// checked, has a stale entry here.
			if c.wheelAt == t {
				c.wheelAt = 0
				due = append(due, c)
			}
		}
		clear(*slot)
		*slot = (*slot)[:0]
	}
	w.mu.Unlock()
	for _, c := range due {
		go c.checkIdle()
	}
}
