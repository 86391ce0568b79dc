package session

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/petrelmq/petrel/packet"
	"pgregory.net/rapid"
)

// modelFlight is what the model knows of a message in flight.
type modelFlight struct {
	seq   uint64
	phase Phase
	d     Delivery // the zero Delivery once PUBREL is sent
}

// model is a plain, slow restatement of what State must do. The property
// test drives both with the same random operations and compares every
// answer and the state after each step.
type model struct {
	limits   Limits
	queue    []Delivery
	inflight map[uint16]modelFlight
	inbound  map[uint16]bool
	seq      uint64
	// overWindow is true while more messages may be in flight than the
	// window allows: after a restore or a lowered limit, until enough
	// acknowledgements arrive.
	overWindow bool
}

func (m *model) window() int {
	if m.limits.MaxInflight <= 0 {
		return 65535
	}
	return m.limits.MaxInflight
}

func (m *model) bytes() int {
	n := 0
	for _, d := range m.queue {
		n += d.Msg.Size()
	}
	return n
}

func (m *model) fits(size int) bool {
	l := m.limits
	if l.MaxQueued > 0 && len(m.queue)+1 > l.MaxQueued {
		return false
	}
	// A delivery larger than the byte limit still enters an empty queue.
	return l.MaxQueuedBytes == 0 || len(m.queue) == 0 || m.bytes()+size <= l.MaxQueuedBytes
}

type sessionMachine struct {
	s   *State
	m   *model
	now time.Time
}

func TestStateMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		limits := Limits{
			MaxInflight:    rapid.IntRange(0, 4).Draw(t, "max-inflight"),
			MaxQueued:      rapid.IntRange(0, 6).Draw(t, "max-queued"),
			MaxQueuedBytes: rapid.SampledFrom([]int{0, 8, 20, 40}).Draw(t, "max-bytes"),
			Overflow:       rapid.SampledFrom([]OverflowPolicy{DropOldest, DropNewest, Disconnect}).Draw(t, "overflow"),
		}
		sm := &sessionMachine{
			s:   New(limits),
			m:   &model{limits: limits, inflight: map[uint16]modelFlight{}, inbound: map[uint16]bool{}},
			now: epoch,
		}
		if rapid.Bool().Draw(t, "restore") {
			sm.restore(t)
		}
		t.Repeat(map[string]func(*rapid.T){
			"":                    sm.check,
			"enqueue":             sm.enqueue,
			"next":                sm.next,
			"puback":              sm.puback,
			"pubrec":              sm.pubrec,
			"pubcomp":             sm.pubcomp,
			"discard":             sm.discard,
			"resend":              sm.resend,
			"take-unacknowledged": sm.take,
			"drop-qos0":           sm.dropQoS0,
			"receive-qos2":        sm.receiveQoS2,
			"release":             sm.release,
			"advance":             sm.advance,
			"limits":              sm.setLimits,
		})
	})
}

func (sm *sessionMachine) delivery(t *rapid.T) Delivery {
	qos := packet.QoS(rapid.IntRange(0, 2).Draw(t, "qos"))
	msg := &Message{
		Topic:   rapid.SampledFrom([]string{"a", "bb", "ccc"}).Draw(t, "topic"),
		Payload: make([]byte, rapid.IntRange(0, 12).Draw(t, "payload")),
		QoS:     qos,
	}
	if ttl := rapid.IntRange(0, 5).Draw(t, "expiry-seconds"); ttl > 0 {
		msg.Expiry = sm.now.Add(time.Duration(ttl) * time.Second)
	}
	return Delivery{Msg: msg, QoS: qos, Shared: rapid.SampledFrom([]string{"", "$share/g/a"}).Draw(t, "shared")}
}

// restore starts the session from a consistent store snapshot: packet ids
// distinct and non-zero, some near the top of the range so allocation
// wraps; in-flight seqs before the queued ones, as Next makes them.
func (sm *sessionMachine) restore(t *rapid.T) {
	pids := rapid.SliceOfNDistinct(rapid.OneOf(rapid.Uint16Range(1, 6), rapid.Uint16Range(65530, 65535)), 0, 6, func(p uint16) uint16 { return p }).Draw(t, "restored-pids")
	var inflight []Inflight
	seq := uint64(rapid.IntRange(0, 100).Draw(t, "first-seq"))
	for _, pid := range pids {
		seq += uint64(rapid.IntRange(1, 3).Draw(t, "seq-gap"))
		f := Inflight{PacketID: pid, Phase: rapid.SampledFrom([]Phase{AwaitPuback, AwaitPubrec, AwaitPubcomp}).Draw(t, "phase")}
		if f.Phase != AwaitPubcomp {
			f.Delivery = sm.delivery(t)
			f.QoS = packet.AtLeastOnce
			if f.Phase == AwaitPubrec {
				f.QoS = packet.ExactlyOnce
			}
		}
		f.Seq = seq
		inflight = append(inflight, f)
		sm.m.inflight[pid] = modelFlight{seq: seq, phase: f.Phase, d: f.Delivery}
	}
	var queued []Delivery
	for range rapid.IntRange(0, 5).Draw(t, "restored-queued") {
		seq += uint64(rapid.IntRange(1, 3).Draw(t, "seq-gap"))
		d := sm.delivery(t)
		d.Seq = seq
		queued = append(queued, d)
	}
	// The store keeps the queue as it was; it may exceed today's limits.
	sm.m.queue = slices.Clone(queued)
	inbound := rapid.SliceOfNDistinct(rapid.Uint16Range(1, 8), 0, 3, func(p uint16) uint16 { return p }).Draw(t, "restored-inbound")
	for _, pid := range inbound {
		sm.m.inbound[pid] = true
	}
	if len(inflight)+len(queued) > 0 {
		sm.m.seq = seq
	}
	sm.m.overWindow = len(inflight) > sm.m.window()
	sm.s.Restore(queued, inflight, inbound)
}

func (sm *sessionMachine) enqueue(t *rapid.T) {
	d := sm.delivery(t)
	m := sm.m
	m.seq++
	d.Seq = m.seq
	want, wantDropped := Queued, []uint64(nil)
	if !m.fits(d.Msg.Size()) {
		switch m.limits.Overflow {
		case DropOldest:
			want = DroppedOldest
			for len(m.queue) > 0 && !m.fits(d.Msg.Size()) {
				wantDropped = append(wantDropped, m.queue[0].Seq)
				m.queue = m.queue[1:]
			}
		case DropNewest:
			want = DroppedNewest
		default:
			want = Overflowed
		}
	}
	if want == Queued || want == DroppedOldest {
		m.queue = append(m.queue, d)
	}
	if room := sm.s.HasRoom(d.Msg.Size()); room != (want == Queued) {
		t.Fatalf("HasRoom(%d) is %t before an Enqueue that is %s", d.Msg.Size(), room, enqueued[want])
	}
	queued, dropped, got := sm.s.Enqueue(d)
	gotDropped := seqsOf(dropped)
	if got != want || queued.Seq != d.Seq || !slices.Equal(gotDropped, wantDropped) {
		t.Fatalf("Enqueue: %s seq %d dropped %v, want %s seq %d dropped %v",
			enqueued[got], queued.Seq, gotDropped, enqueued[want], d.Seq, wantDropped)
	}
}

func seqsOf(ds []Delivery) []uint64 {
	var s []uint64
	for _, d := range ds {
		s = append(s, d.Seq)
	}
	return s
}

func (sm *sessionMachine) next(t *rapid.T) {
	m := sm.m
	var wantExpired []uint64
	for len(m.queue) > 0 && m.queue[0].Msg.Expired(sm.now) {
		wantExpired = append(wantExpired, m.queue[0].Seq)
		m.queue = m.queue[1:]
	}
	d, pid, expired, ok := sm.s.Next(sm.now)
	if got := seqsOf(expired); !slices.Equal(got, wantExpired) {
		t.Fatalf("Next expired %v, want %v", got, wantExpired)
	}
	if len(m.queue) == 0 || m.queue[0].QoS > packet.AtMostOnce && len(m.inflight) >= m.window() {
		if ok {
			t.Fatalf("Next sent seq %d with %d queued and %d of %d in flight", d.Seq, len(m.queue), len(m.inflight), m.window())
		}
		return
	}
	head := m.queue[0]
	m.queue = m.queue[1:]
	if !ok || d.Seq != head.Seq || d.Msg != head.Msg {
		t.Fatalf("Next gave seq %d (ok %t), want seq %d", d.Seq, ok, head.Seq)
	}
	if head.QoS == packet.AtMostOnce {
		if pid != 0 {
			t.Fatalf("QoS 0 seq %d sent with packet id %d", d.Seq, pid)
		}
		return
	}
	if _, used := m.inflight[pid]; pid == 0 || used {
		t.Fatalf("seq %d sent with packet id %d, which is zero or in use", d.Seq, pid)
	}
	phase := AwaitPuback
	if head.QoS == packet.ExactlyOnce {
		phase = AwaitPubrec
	}
	m.inflight[pid] = modelFlight{seq: head.Seq, phase: phase, d: head}
}

// pid draws a packet id in flight most of the time, any small one otherwise.
func (sm *sessionMachine) pid(t *rapid.T) uint16 {
	if len(sm.m.inflight) > 0 && rapid.IntRange(0, 3).Draw(t, "known") > 0 {
		pids := slices.Sorted(maps.Keys(sm.m.inflight))
		return rapid.SampledFrom(pids).Draw(t, "pid")
	}
	return rapid.Uint16Range(0, 8).Draw(t, "pid")
}

func (sm *sessionMachine) ack(t *rapid.T, name string, phase Phase, f func(uint16) (uint64, bool)) {
	pid := sm.pid(t)
	mf, ok := sm.m.inflight[pid]
	want := ok && mf.phase == phase
	seq, got := f(pid)
	if got != want || got && seq != mf.seq {
		t.Fatalf("%s %d: seq %d %t, want seq %d %t", name, pid, seq, got, mf.seq, want)
	}
	if got {
		delete(sm.m.inflight, pid)
	}
}

func (sm *sessionMachine) puback(t *rapid.T)  { sm.ack(t, "Puback", AwaitPuback, sm.s.Puback) }
func (sm *sessionMachine) pubcomp(t *rapid.T) { sm.ack(t, "Pubcomp", AwaitPubcomp, sm.s.Pubcomp) }

func (sm *sessionMachine) pubrec(t *rapid.T) {
	pid := sm.pid(t)
	code := packet.ReasonCode(rapid.SampledFrom([]byte{0x00, 0x10, 0x80, 0x97}).Draw(t, "code"))
	mf, inFlight := sm.m.inflight[pid]
	seq, sendPubrel, found, ended := sm.s.Pubrec(pid, code)
	got := fmt.Sprintf("seq %d pubrel %t found %t ended %t", seq, sendPubrel, found, ended)
	var want string
	switch {
	case !inFlight:
		want = "seq 0 pubrel true found false ended false"
	case mf.phase == AwaitPubrec && code.IsError():
		want = fmt.Sprintf("seq %d pubrel false found true ended true", mf.seq)
		delete(sm.m.inflight, pid)
	case mf.phase == AwaitPubrec || mf.phase == AwaitPubcomp:
		want = fmt.Sprintf("seq %d pubrel true found true ended false", mf.seq)
		sm.m.inflight[pid] = modelFlight{seq: mf.seq, phase: AwaitPubcomp}
	default:
		// A PUBREC for a QoS 1 id names no QoS 2 exchange: nothing
		// changes, and it is answered as an unknown id, PUBREL 0x92.
		want = "seq 0 pubrel true found false ended false"
	}
	if got != want {
		t.Fatalf("Pubrec %d %#x: %s, want %s", pid, code, got, want)
	}
}

func (sm *sessionMachine) discard(t *rapid.T) {
	pid := sm.pid(t)
	sm.s.Discard(pid)
	delete(sm.m.inflight, pid)
}

func (sm *sessionMachine) resend(t *rapid.T) {
	got := sm.s.Resend()
	want := slices.SortedFunc(maps.Keys(sm.m.inflight), func(a, b uint16) int {
		return int(sm.m.inflight[a].seq) - int(sm.m.inflight[b].seq)
	})
	if len(got) != len(want) {
		t.Fatalf("Resend listed %d, want %d", len(got), len(want))
	}
	for i, f := range got {
		mf := sm.m.inflight[want[i]]
		if f.PacketID != want[i] || f.Seq != mf.seq || f.Phase != mf.phase || f.Msg != mf.d.Msg {
			t.Fatalf("Resend[%d]: pid %d seq %d phase %d, want pid %d seq %d phase %d",
				i, f.PacketID, f.Seq, f.Phase, want[i], mf.seq, mf.phase)
		}
	}
}

func (sm *sessionMachine) take(t *rapid.T) {
	keepShared := rapid.Bool().Draw(t, "keep-shared")
	keep := func(d *Delivery) bool { return keepShared || d.Shared == "" }
	var want []uint64
	for _, pid := range slices.SortedFunc(maps.Keys(sm.m.inflight), func(a, b uint16) int {
		return int(sm.m.inflight[a].seq) - int(sm.m.inflight[b].seq)
	}) {
		if mf := sm.m.inflight[pid]; mf.phase == AwaitPuback && !keep(&mf.d) {
			want = append(want, mf.seq)
			delete(sm.m.inflight, pid)
		}
	}
	sm.m.queue = slices.DeleteFunc(sm.m.queue, func(d Delivery) bool {
		if keep(&d) {
			return false
		}
		want = append(want, d.Seq)
		return true
	})
	if got := seqsOf(sm.s.TakeUnacknowledged(keep)); !slices.Equal(got, want) {
		t.Fatalf("TakeUnacknowledged took %v, want %v", got, want)
	}
}

func (sm *sessionMachine) dropQoS0(t *rapid.T) {
	before := len(sm.m.queue)
	sm.m.queue = slices.DeleteFunc(sm.m.queue, func(d Delivery) bool { return d.QoS == packet.AtMostOnce })
	if got, want := sm.s.DropQoS0(), before-len(sm.m.queue); got != want {
		t.Fatalf("DropQoS0 dropped %d, want %d", got, want)
	}
}

func (sm *sessionMachine) receiveQoS2(t *rapid.T) {
	pid := rapid.Uint16Range(1, 8).Draw(t, "inbound-pid")
	if got, want := sm.s.ReceiveQoS2(pid), sm.m.inbound[pid]; got != want {
		t.Fatalf("ReceiveQoS2 %d: duplicate %t, want %t", pid, got, want)
	}
	sm.m.inbound[pid] = true
}

func (sm *sessionMachine) release(t *rapid.T) {
	pid := rapid.Uint16Range(1, 8).Draw(t, "inbound-pid")
	if got, want := sm.s.Release(pid), sm.m.inbound[pid]; got != want {
		t.Fatalf("Release %d: %t, want %t", pid, got, want)
	}
	delete(sm.m.inbound, pid)
}

func (sm *sessionMachine) advance(t *rapid.T) {
	sm.now = sm.now.Add(time.Duration(rapid.IntRange(0, 3000).Draw(t, "advance-ms")) * time.Millisecond)
}

// setLimits is a resume with a new Receive Maximum: the window may now be
// smaller than what is in flight.
func (sm *sessionMachine) setLimits(t *rapid.T) {
	sm.m.limits.MaxInflight = rapid.IntRange(0, 4).Draw(t, "new-max-inflight")
	sm.s.Limits = sm.m.limits
	sm.m.overWindow = sm.m.overWindow || len(sm.m.inflight) > sm.m.window()
}

func (sm *sessionMachine) check(t *rapid.T) {
	s, m := sm.s, sm.m
	if err := checkInvariants(s); err != nil {
		t.Fatal(err)
	}
	if len(m.inflight) <= m.window() {
		m.overWindow = false
	}
	if s.InflightCount() > m.window() && !m.overWindow {
		t.Fatalf("%d in flight with a window of %d", s.InflightCount(), m.window())
	}
	if s.Queued() != len(m.queue) || s.QueuedBytes() != m.bytes() || s.InflightCount() != len(m.inflight) || s.InboundQoS2() != len(m.inbound) {
		t.Fatalf("queued %d (%d bytes), %d in flight, %d inbound; want %d (%d bytes), %d, %d",
			s.Queued(), s.QueuedBytes(), s.InflightCount(), s.InboundQoS2(), len(m.queue), m.bytes(), len(m.inflight), len(m.inbound))
	}
	for i, d := range m.queue {
		if got := s.queue.buf[(s.queue.head+i)%len(s.queue.buf)]; got.Seq != d.Seq || got.Msg != d.Msg {
			t.Fatalf("queue[%d] is seq %d, want %d", i, got.Seq, d.Seq)
		}
	}
	for pid, mf := range m.inflight {
		f, ok := s.inflight[pid]
		if !ok || f.Seq != mf.seq || f.Phase != mf.phase || f.Msg != mf.d.Msg {
			t.Fatalf("in flight %d: %+v, want seq %d phase %d", pid, f, mf.seq, mf.phase)
		}
	}
}
