package loadgen

import (
	"net"
	"sync"
	"sync/atomic"
)

// outbox coalesces a connection's writes. Whoever sends while no write is
// in progress writes at once; whoever finds one in progress leaves a copy
// of its bytes for that writer, which sends everything left for it before
// it returns. So under load many packets share one system call, and when
// idle a packet goes out at once, with no Nagle-style delay.
type outbox struct {
	nc net.Conn

	mu      sync.Mutex
	writing bool
	pending []byte
	err     error

	lastWrite atomic.Int64 // clock reading of the last write, for keep-alive
}

// send writes b, or leaves a copy of it to the write in progress. It
// returns the connection's write error, if it has failed. b may be reused
// when send returns.
func (o *outbox) send(b []byte, now int64) error {
	if len(b) == 0 {
		return nil
	}
	o.mu.Lock()
	if o.err != nil {
		err := o.err
		o.mu.Unlock()
		return err
	}
	if o.writing {
		o.pending = append(o.pending, b...)
		o.mu.Unlock()
		return nil
	}
	o.writing = true
	o.mu.Unlock()
	var own []byte // a pending buffer taken to write, given back after
	for {
		_, err := o.nc.Write(b)
		o.lastWrite.Store(now)
		o.mu.Lock()
		if err != nil && o.err == nil {
			o.err = err
		}
		if o.err != nil || len(o.pending) == 0 {
			o.writing = false
			if cap(own) > cap(o.pending) {
				o.pending = own[:0]
			}
			err = o.err
			o.mu.Unlock()
			return err
		}
		// Write what others left while they fill the other buffer.
		b, o.pending, own = o.pending, own[:0], o.pending
		o.mu.Unlock()
	}
}
