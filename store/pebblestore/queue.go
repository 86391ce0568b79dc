package pebblestore

import "github.com/petrelmq/petrel/broker"

// queue holds the operations Apply queued for the next commit, in order.
// A delivery queued and forgotten before the commit, as a message to an
// online subscriber that acknowledges it within the round usually is,
// never reaches Pebble: the round commits as a whole, so leaving out
// every operation on it leaves the stored state exactly as writing them
// all would, without the log bytes, memtable entries and tombstones.
type queue struct {
	ops []broker.Op
	// pending are the done callbacks of the Apply calls that filled it.
	pending []pending
	// size estimates what the operations will take in the log.
	size int
	// next links each operation on a delivery enqueued in this round to
	// the following one on the same delivery; -1 ends a chain.
	next []int32
	// live maps each delivery enqueued in this round to its chain.
	live map[deliveryKey]chain
}

// deliveryKey names a delivery of a session.
type deliveryKey struct {
	id  string
	seq uint64
}

// chain is the first and last operation on one delivery in a queue.
type chain struct{ first, last int32 }

// cancelled marks an operation left out of the commit.
const cancelled broker.OpKind = 0

// add queues ops, which check passed.
func (q *queue) add(ops []broker.Op) {
	for i := range ops {
		op := &ops[i]
		q.size += opOverhead + len(op.ClientID)
		if m := op.Msg; m != nil {
			q.size += len(m.Topic) + len(m.Payload)
		}
		if m := op.Delivery.Msg; m != nil {
			q.size += len(m.Topic) + len(m.Payload)
		}
		switch op.Kind {
		case broker.OpEnqueue:
			// A Seq enqueued again (a session ended and begun anew in
			// the round) starts a new chain; the old one is under the
			// range delete that ended its session.
			q.push(op)
			q.live[deliveryKey{op.ClientID, op.Seq}] = chain{first: int32(len(q.ops) - 1), last: int32(len(q.ops) - 1)}
		case broker.OpSent:
			k := deliveryKey{op.ClientID, op.Seq}
			q.push(op)
			if c, ok := q.live[k]; ok {
				q.next[c.last] = int32(len(q.ops) - 1)
				c.last = int32(len(q.ops) - 1)
				q.live[k] = c
			}
		case broker.OpForget:
			k := deliveryKey{op.ClientID, op.Seq}
			c, ok := q.live[k]
			if !ok {
				// Enqueued in an earlier round: its keys are in Pebble.
				q.push(op)
				continue
			}
			delete(q.live, k)
			for i := c.first; i >= 0; i = q.next[i] {
				q.ops[i] = broker.Op{Kind: cancelled}
			}
		default:
			q.push(op)
		}
	}
}

func (q *queue) push(op *broker.Op) {
	q.ops = append(q.ops, *op)
	q.next = append(q.next, -1)
}

// opOverhead is about what an operation takes in the log beyond its
// client id, topic and payload.
const opOverhead = 48

// reset empties the queue for reuse, dropping its references to messages
// and callbacks.
func (q *queue) reset() {
	clear(q.ops)
	q.ops, q.next = q.ops[:0], q.next[:0]
	clear(q.live)
	q.pending, q.size = nil, 0
}

func newQueue() *queue { return &queue{live: map[deliveryKey]chain{}} }
