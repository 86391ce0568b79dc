package session

// queue is a FIFO of deliveries on a ring buffer: pushes and pops at either
// end cost O(1) and the buffer shrinks again after a burst.
type queue struct {
	buf   []Delivery
	head  int
	n     int
	bytes int
}

func (q *queue) len() int { return q.n }

func (q *queue) push(d Delivery) {
	if q.n == len(q.buf) {
		q.resize(max(8, 2*len(q.buf)))
	}
	q.buf[(q.head+q.n)%len(q.buf)] = d
	q.n++
	q.bytes += d.Msg.Size()
}

func (q *queue) pop() (Delivery, bool) {
	if q.n == 0 {
		return Delivery{}, false
	}
	d := q.buf[q.head]
	q.buf[q.head] = Delivery{}
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	q.bytes -= d.Msg.Size()
	if len(q.buf) > 64 && q.n < len(q.buf)/4 {
		q.resize(len(q.buf) / 2)
	}
	return d, true
}

func (q *queue) peek() (Delivery, bool) {
	if q.n == 0 {
		return Delivery{}, false
	}
	return q.buf[q.head], true
}

func (q *queue) resize(size int) {
	buf := make([]Delivery, size)
	for i := 0; i < q.n; i++ {
		buf[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = buf, 0
}

// removeFunc drops every delivery for which drop returns true, keeping order,
// and returns how many it dropped.
func (q *queue) removeFunc(drop func(*Delivery) bool) int {
	kept := 0
	for i := 0; i < q.n; i++ {
		d := q.buf[(q.head+i)%len(q.buf)]
		if drop(&d) {
			q.bytes -= d.Msg.Size()
			continue
		}
		q.buf[(q.head+kept)%len(q.buf)] = d
		kept++
	}
	for i := kept; i < q.n; i++ {
		q.buf[(q.head+i)%len(q.buf)] = Delivery{}
	}
	dropped := q.n - kept
	q.n = kept
	return dropped
}
