package session

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// ringDelivery is a delivery whose message is size bytes.
func ringDelivery(seq uint64, size int) Delivery {
	return Delivery{Seq: seq, Msg: &Message{Payload: make([]byte, size)}}
}

// checkQueue compares q with the deliveries want, in order, and its byte
// count with theirs.
func checkQueue(t *testing.T, q *queue, want []Delivery) {
	t.Helper()
	if q.len() != len(want) {
		t.Fatalf("len %d, want %d", q.len(), len(want))
	}
	bytes := 0
	for i, w := range want {
		bytes += w.Msg.Size()
		if got := q.buf[(q.head+i)%len(q.buf)]; got.Seq != w.Seq || got.Msg != w.Msg {
			t.Fatalf("queue[%d] is seq %d, want %d", i, got.Seq, w.Seq)
		}
	}
	if q.bytes != bytes {
		t.Fatalf("bytes %d, want %d", q.bytes, bytes)
	}
	if len(want) > 0 {
		if d, ok := q.peek(); !ok || d.Seq != want[0].Seq {
			t.Fatalf("peek: seq %d %t, want %d", d.Seq, ok, want[0].Seq)
		}
	} else if _, ok := q.peek(); ok {
		t.Fatal("peek on an empty queue reported a delivery")
	}
}

func TestQueueGrowsAndShrinks(t *testing.T) {
	var q queue
	if _, ok := q.pop(); ok {
		t.Fatal("pop on a zero queue reported a delivery")
	}
	const n = 10_000
	var want []Delivery
	for i := range n {
		d := ringDelivery(uint64(i+1), i%7)
		q.push(d)
		want = append(want, d)
		// The buffer doubles from 8 only when full.
		if size := len(q.buf); size < q.len() || size > max(8, 2*q.len()) {
			t.Fatalf("after %d pushes the buffer holds %d", q.len(), size)
		}
	}
	checkQueue(t, &q, want)
	if len(q.buf) != 16384 {
		t.Fatalf("buffer %d for %d deliveries, want 16384", len(q.buf), n)
	}
	for i := range n {
		d, ok := q.pop()
		if !ok || d.Seq != uint64(i+1) {
			t.Fatalf("pop %d: seq %d %t", i, d.Seq, ok)
		}
		// Shrinking halves a buffer past 64 a quarter full, one step a pop,
		// so it never holds more than about four times what is queued.
		if size := len(q.buf); size > 64 && size > 4*(q.len()+1) {
			t.Fatalf("%d queued in a buffer of %d", q.len(), size)
		}
	}
	checkQueue(t, &q, nil)
	if len(q.buf) != 64 {
		t.Fatalf("drained buffer holds %d, want 64", len(q.buf))
	}
	for i, d := range q.buf {
		if d.Msg != nil {
			t.Fatalf("slot %d still holds seq %d after it was popped", i, d.Seq)
		}
	}
}

// TestQueueWrapsAround pushes and pops so the live part of the buffer
// straddles its end when it grows, shrinks and filters.
func TestQueueWrapsAround(t *testing.T) {
	var q queue
	var want []Delivery
	seq := uint64(0)
	push := func(k int) {
		for range k {
			seq++
			d := ringDelivery(seq, int(seq%5))
			q.push(d)
			want = append(want, d)
		}
	}
	pop := func(k int) {
		for range k {
			d, ok := q.pop()
			if !ok || d.Seq != want[0].Seq {
				t.Fatalf("pop: seq %d %t, want %d", d.Seq, ok, want[0].Seq)
			}
			want = want[1:]
		}
	}
	push(6)
	pop(5)
	push(6) // 7 queued in a buffer of 8, head at 5: wrapped
	if q.head+q.len() <= len(q.buf) {
		t.Fatalf("head %d, %d queued, buffer %d: expected a wrapped queue", q.head, q.len(), len(q.buf))
	}
	checkQueue(t, &q, want)
	push(2) // grows while wrapped
	checkQueue(t, &q, want)
	if q.head != 0 {
		t.Fatalf("growing left head at %d", q.head)
	}
	push(200)
	pop(150)
	push(40)
	checkQueue(t, &q, want)

	// removeFunc on a wrapped queue keeps order and clears freed slots.
	pop(q.len() / 2) // not below a quarter: no shrink, head moves on
	push(len(q.buf) - q.len())
	if q.head+q.len() <= len(q.buf) {
		t.Fatalf("head %d, %d queued, buffer %d: expected a wrapped queue", q.head, q.len(), len(q.buf))
	}
	dropped := q.removeFunc(func(d *Delivery) bool { return d.Seq%3 == 0 })
	kept := slices.DeleteFunc(slices.Clone(want), func(d Delivery) bool { return d.Seq%3 == 0 })
	if dropped != len(want)-len(kept) {
		t.Fatalf("removeFunc dropped %d, want %d", dropped, len(want)-len(kept))
	}
	want = kept
	checkQueue(t, &q, want)
	for i := q.len(); i < len(q.buf); i++ {
		if d := q.buf[(q.head+i)%len(q.buf)]; d.Msg != nil {
			t.Fatalf("free slot holds seq %d after removeFunc", d.Seq)
		}
	}
	// Pushes after a filter land behind what it kept.
	push(10)
	checkQueue(t, &q, want)
	if n := q.removeFunc(func(*Delivery) bool { return true }); n != len(want) {
		t.Fatalf("removing all dropped %d, want %d", n, len(want))
	}
	want = nil
	checkQueue(t, &q, want)
	push(3)
	checkQueue(t, &q, want)
}

// TestQueueAgainstSlice runs random pushes, pops and filters against a
// slice doing the same.
func TestQueueAgainstSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var q queue
	var want []Delivery
	seq := uint64(0)
	for step := range 20_000 {
		switch r := rng.IntN(100); {
		case r < 50 || step%4000 < 1000: // bursts of pushes
			seq++
			d := ringDelivery(seq, rng.IntN(10))
			q.push(d)
			want = append(want, d)
		case r < 97:
			d, ok := q.pop()
			if ok != (len(want) > 0) || ok && d.Seq != want[0].Seq {
				t.Fatalf("step %d: pop gave seq %d %t", step, d.Seq, ok)
			}
			if ok {
				want = want[1:]
			}
		default:
			m := uint64(rng.IntN(4) + 2)
			q.removeFunc(func(d *Delivery) bool { return d.Seq%m == 0 })
			want = slices.DeleteFunc(want, func(d Delivery) bool { return d.Seq%m == 0 })
		}
		if q.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, q.len(), len(want))
		}
		if step%97 == 0 {
			checkQueue(t, &q, want)
		}
	}
	checkQueue(t, &q, want)
}
