package session

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/petrelmq/petrel/packet"
)

var rewrite = flag.Bool("rewrite", false, "regenerate the expected output of testdata/*.txt from what State does; review every change before committing it")

// TestScripts runs every testdata/*.txt script against a State. A script
// is a sequence of steps separated by blank lines:
//
//	command key=value ...
//	optional input lines (restore only)
//	----
//	expected output, one or more lines, or none
//
// Lines starting with # between steps are comments; they name the rule a
// step shows. Any command takes quiet, which keeps only the first and last
// lines of a long output. The commands:
//
//	new [max-inflight=N] [max-queued=N] [max-bytes=N] [overflow=drop-oldest|drop-newest|disconnect]
//	limits ...                 the same limits, on the existing session
//	enqueue [topic=T] [qos=Q] [payload=BYTES] [expiry=DURATION] [shared=S] [count=N]
//	has-room [topic=T] [payload=BYTES]
//	next [n=N | all]
//	puback pid=P / pubrec pid=P [code=C] / pubcomp pid=P / discard pid=P
//	resend
//	take-unacknowledged [keep=non-shared|all|none]
//	drop-qos0
//	receive-qos2 pid=P / release pid=P
//	restore, with input lines queued ..., inflight pid=P seq=S phase=..., inbound pid=P
//	advance by=DURATION        moves the fake clock, which new resets
//	state
//
// Run go test ./internal/session -run TestScripts -rewrite to regenerate
// the expected output, then read the diff against the rules before
// committing it. After every step the harness also checks the invariants that
// hold whatever the script does (see checkInvariants).
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts in testdata")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScript(t, file)
		})
	}
}

func runScript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var out strings.Builder // the file as -rewrite writes it
	h := newHarness()
	for i := 0; i < len(lines); {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			i++
			continue
		}
		pos := fmt.Sprintf("%s:%d", file, i+1)
		cmd := line
		var input []string
		out.WriteString(line + "\n")
		for i++; ; i++ {
			if i == len(lines) || strings.TrimSpace(lines[i]) == "" {
				t.Fatalf("%s: %q has no ---- line", pos, cmd)
			}
			out.WriteString(lines[i] + "\n")
			if lines[i] == "----" {
				i++
				break
			}
			input = append(input, lines[i])
		}
		var want []string
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			want = append(want, lines[i])
		}
		got, err := h.step(cmd, input)
		if err != nil {
			t.Fatalf("%s: %s: %v", pos, cmd, err)
		}
		if err := checkInvariants(h.s); err != nil {
			t.Errorf("%s: after %s: %v", pos, cmd, err)
		}
		for _, l := range got {
			out.WriteString(l + "\n")
		}
		if !*rewrite && !slices.Equal(got, want) {
			t.Errorf("%s: %s\n--- want\n%s\n--- got\n%s", pos, cmd, strings.Join(want, "\n"), strings.Join(got, "\n"))
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// epoch is where the fake clock starts, and starts again on new.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// harness is the State a script drives and the fake clock beside it.
type harness struct {
	s   *State
	now time.Time
}

// output is a step's output, formatted only when printed: a quiet step over
// 65,535 messages would otherwise spend most of the suite's time (under
// -race) formatting lines nobody sees.
type output []func() string

func (o *output) add(format string, a ...any) {
	*o = append(*o, func() string { return fmt.Sprintf(format, a...) })
}

func line(format string, a ...any) output {
	var o output
	o.add(format, a...)
	return o
}

// lazy is a %s argument computed only when its line is printed.
type lazy func() string

func (l lazy) String() string { return l() }

func newHarness() *harness {
	return &harness{s: New(Limits{}), now: epoch}
}

// args are a command's key=value (or bare key) arguments. Every argument
// must be read, so a misspelt one fails the script instead of being
// ignored.
type args struct {
	vals map[string]string
	used map[string]bool
}

func parseArgs(fields []string) (*args, error) {
	a := &args{vals: map[string]string{}, used: map[string]bool{}}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		if _, dup := a.vals[k]; dup {
			return nil, fmt.Errorf("argument %s given twice", k)
		}
		a.vals[k] = v
	}
	return a, nil
}

func (a *args) has(k string) bool {
	a.used[k] = true
	_, ok := a.vals[k]
	return ok
}

func (a *args) str(k, def string) string {
	if !a.has(k) {
		return def
	}
	return a.vals[k]
}

func (a *args) int(k string, def int) (int, error) {
	if !a.has(k) {
		return def, nil
	}
	n, err := strconv.ParseInt(a.vals[k], 0, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", k, err)
	}
	return int(n), nil
}

func (a *args) dur(k string) (time.Duration, error) {
	if !a.has(k) {
		return 0, nil
	}
	d, err := time.ParseDuration(a.vals[k])
	if err != nil {
		return 0, fmt.Errorf("%s: %w", k, err)
	}
	return d, nil
}

func (a *args) done() error {
	for k := range a.vals {
		if !a.used[k] {
			return fmt.Errorf("unknown argument %q", k)
		}
	}
	return nil
}

func (h *harness) step(line string, input []string) ([]string, error) {
	fields := strings.Fields(line)
	a, err := parseArgs(fields[1:])
	if err != nil {
		return nil, err
	}
	var out output
	switch fields[0] {
	case "new":
		l, err := limits(a)
		if err != nil {
			return nil, err
		}
		h.s, h.now = New(l), epoch
	case "limits":
		// A resumed session takes the limits of its new connection.
		if h.s.Limits, err = limits(a); err != nil {
			return nil, err
		}
	case "enqueue":
		out, err = h.enqueue(a)
	case "has-room":
		// Sized like the delivery enqueue would make from the same
		// arguments.
		var d Delivery
		if d, err = h.delivery(a); err == nil {
			if h.s.HasRoom(d.Msg.Size()) {
				out.add("room for %d bytes", d.Msg.Size())
			} else {
				out.add("full for %d bytes", d.Msg.Size())
			}
		}
	case "next":
		out, err = h.next(a)
	case "puback", "pubcomp", "discard", "receive-qos2", "release":
		out, err = h.pidCommand(fields[0], a)
	case "pubrec":
		out, err = h.pubrec(a)
	case "resend":
		out = h.resend()
	case "take-unacknowledged":
		out, err = h.take(a)
	case "drop-qos0":
		out.add("dropped=%d", h.s.DropQoS0())
	case "restore":
		err = h.restore(input)
	case "advance":
		var d time.Duration
		if d, err = a.dur("by"); err == nil {
			h.now = h.now.Add(d)
			out.add("now=+%v", h.now.Sub(epoch))
		}
	case "state":
		out = h.state()
	default:
		return nil, fmt.Errorf("unknown command %q", fields[0])
	}
	if err != nil {
		return nil, err
	}
	if fields[0] != "restore" && len(input) > 0 {
		return nil, fmt.Errorf("%s takes no input lines", fields[0])
	}
	if a.has("quiet") && len(out) > 2 {
		// Long runs show their first and last lines.
		n := len(out) - 2
		out = output{out[0], func() string { return fmt.Sprintf("... %d more", n) }, out[len(out)-1]}
	}
	lines := make([]string, len(out))
	for i, f := range out {
		lines[i] = f()
	}
	return lines, a.done()
}

func limits(a *args) (Limits, error) {
	var l Limits
	var err error
	if l.MaxInflight, err = a.int("max-inflight", 0); err != nil {
		return l, err
	}
	if l.MaxQueued, err = a.int("max-queued", 0); err != nil {
		return l, err
	}
	if l.MaxQueuedBytes, err = a.int("max-bytes", 0); err != nil {
		return l, err
	}
	switch o := a.str("overflow", "drop-oldest"); o {
	case "drop-oldest":
		l.Overflow = DropOldest
	case "drop-newest":
		l.Overflow = DropNewest
	case "disconnect":
		l.Overflow = Disconnect
	default:
		return l, fmt.Errorf("unknown overflow policy %q", o)
	}
	return l, nil
}

// delivery builds a delivery from topic=, qos=, payload= (a size in
// bytes), expiry= (relative to the fake clock) and shared=.
func (h *harness) delivery(a *args) (Delivery, error) {
	qos, err := a.int("qos", 0)
	if err != nil {
		return Delivery{}, err
	}
	size, err := a.int("payload", 0)
	if err != nil {
		return Delivery{}, err
	}
	m := &Message{Topic: a.str("topic", "t"), Payload: make([]byte, size), QoS: packet.QoS(qos)}
	if a.has("expiry") {
		d, err := a.dur("expiry")
		if err != nil {
			return Delivery{}, err
		}
		m.Expiry = h.now.Add(d)
	}
	return Delivery{Msg: m, QoS: packet.QoS(qos), Shared: a.str("shared", "")}, nil
}

var enqueued = map[Enqueued]string{Queued: "queued", DroppedOldest: "dropped-oldest", DroppedNewest: "dropped-newest", Overflowed: "overflowed"}

// enqueue queues count= copies (default 1) of one delivery.
func (h *harness) enqueue(a *args) (output, error) {
	n, err := a.int("count", 1)
	if err != nil {
		return nil, err
	}
	d, err := h.delivery(a)
	if err != nil {
		return nil, err
	}
	var out output
	for range n {
		q, dropped, res := h.s.Enqueue(d)
		if len(dropped) > 0 {
			out.add("%s seq=%d dropped=%s", enqueued[res], q.Seq, seqs(dropped))
		} else {
			out.add("%s seq=%d", enqueued[res], q.Seq)
		}
	}
	return out, nil
}

func seqs(ds []Delivery) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = strconv.FormatUint(d.Seq, 10)
	}
	return strings.Join(s, ",")
}

// describe prints a delivery as the PUBLISH it becomes at the fake clock's
// now: its QoS, topic, payload size, the Message Expiry Interval left and
// its shared subscription.
func (h *harness) describe(d *Delivery) string {
	if d.Msg == nil {
		return "(no message)"
	}
	s := fmt.Sprintf("qos=%d topic=%s", d.QoS, d.Msg.Topic)
	if len(d.Msg.Payload) > 0 {
		s += fmt.Sprintf(" payload=%d", len(d.Msg.Payload))
	}
	if left, ok := d.Msg.RemainingExpiry(h.now); ok {
		s += fmt.Sprintf(" expiry=%d", left)
	}
	if d.Shared != "" {
		s += " shared=" + d.Shared
	}
	return s
}

// next calls Next n= times (default 1) or, with all, until it has nothing
// to send.
func (h *harness) next(a *args) (output, error) {
	n, err := a.int("n", 1)
	if err != nil {
		return nil, err
	}
	if a.has("all") {
		n = -1
	}
	var out output
	for i := 0; i != n; i++ {
		d, pid, expired, ok := h.s.Next(h.now)
		for _, e := range expired {
			out.add("expired seq=%d topic=%s", e.Seq, e.Msg.Topic)
		}
		if !ok {
			if h.s.Queued() == 0 {
				out.add("none (queue empty)")
			} else {
				out.add("none (window full: inflight=%d)", h.s.InflightCount())
			}
			break
		}
		if pid != 0 || d.QoS > packet.AtMostOnce {
			out.add("send seq=%d pid=%d %s", d.Seq, pid, lazy(func() string { return h.describe(&d) }))
		} else {
			out.add("send seq=%d %s", d.Seq, lazy(func() string { return h.describe(&d) }))
		}
	}
	return out, nil
}

func (h *harness) pidCommand(cmd string, a *args) (output, error) {
	n, err := a.int("pid", -1)
	if err != nil {
		return nil, err
	}
	if n < 0 || n > 65535 {
		return nil, fmt.Errorf("%s needs pid=0..65535", cmd)
	}
	pid := uint16(n)
	switch cmd {
	case "puback", "pubcomp":
		f := h.s.Puback
		if cmd == "pubcomp" {
			f = h.s.Pubcomp
		}
		if seq, ok := f(pid); ok {
			return line("ok seq=%d", seq), nil
		}
		return line("ignored"), nil
	case "discard":
		h.s.Discard(pid)
		return nil, nil
	case "receive-qos2":
		if h.s.ReceiveQoS2(pid) {
			return line("duplicate: send PUBREC, do not deliver"), nil
		}
		return line("new: send PUBREC, deliver"), nil
	default: // release
		if h.s.Release(pid) {
			return line("released: send PUBCOMP"), nil
		}
		return line("not found: send PUBCOMP 0x92"), nil
	}
}

func (h *harness) pubrec(a *args) (output, error) {
	n, err := a.int("pid", -1)
	if err != nil {
		return nil, err
	}
	code, err := a.int("code", 0)
	if err != nil {
		return nil, err
	}
	if n < 0 || n > 65535 || code < 0 || code > 255 {
		return nil, fmt.Errorf("pubrec needs pid=0..65535 and code=0..255")
	}
	seq, sendPubrel, found, ended := h.s.Pubrec(uint16(n), packet.ReasonCode(code))
	var l string
	switch {
	case sendPubrel && found && !ended:
		l = fmt.Sprintf("send PUBREL seq=%d", seq)
	case sendPubrel && !found && !ended && seq == 0:
		l = "send PUBREL 0x92 (packet identifier not found)"
	case !sendPubrel && found && ended:
		l = fmt.Sprintf("ended seq=%d: no PUBREL", seq)
	default:
		l = fmt.Sprintf("seq=%d send-pubrel=%t found=%t ended=%t", seq, sendPubrel, found, ended)
	}
	return line("%s", l), nil
}

func (h *harness) resend() output {
	var out output
	for _, f := range h.s.Resend() {
		if f.Phase == AwaitPubcomp {
			out.add("PUBREL pid=%d seq=%d", f.PacketID, f.Seq)
			continue
		}
		out.add("PUBLISH dup pid=%d seq=%d %s", f.PacketID, f.Seq, lazy(func() string { return h.describe(&f.Delivery) }))
	}
	if len(out) == 0 {
		out.add("none")
	}
	return out
}

// take calls TakeUnacknowledged keeping what keep= says: non-shared (the
// broker's choice, the default), all or none.
func (h *harness) take(a *args) (output, error) {
	var keep func(*Delivery) bool
	switch k := a.str("keep", "non-shared"); k {
	case "non-shared":
		keep = func(d *Delivery) bool { return d.Shared == "" }
	case "all":
		keep = func(*Delivery) bool { return true }
	case "none":
		keep = func(*Delivery) bool { return false }
	default:
		return nil, fmt.Errorf("keep=%s: want non-shared, all or none", k)
	}
	var out output
	for _, d := range h.s.TakeUnacknowledged(keep) {
		out.add("take seq=%d %s", d.Seq, lazy(func() string { return h.describe(&d) }))
	}
	if len(out) == 0 {
		out.add("none")
	}
	return out, nil
}

var phases = map[string]Phase{"puback": AwaitPuback, "pubrec": AwaitPubrec, "pubcomp": AwaitPubcomp}

// restore calls Restore with what the input lines list, as a store would
// load it:
//
//	queued seq=N topic=… qos=… payload=… expiry=… shared=…
//	inflight pid=N seq=N phase=puback|pubrec|pubcomp topic=… qos=…
//	inbound pid=N
func (h *harness) restore(input []string) error {
	var queued []Delivery
	var inflight []Inflight
	var inbound []uint16
	for _, line := range input {
		fields := strings.Fields(line)
		a, err := parseArgs(fields[1:])
		if err != nil {
			return err
		}
		seq, err := a.int("seq", 0)
		if err != nil {
			return err
		}
		pid, err := a.int("pid", 0)
		if err != nil {
			return err
		}
		switch fields[0] {
		case "queued":
			d, err := h.delivery(a)
			if err != nil {
				return err
			}
			d.Seq = uint64(seq)
			queued = append(queued, d)
		case "inflight":
			ph, ok := phases[a.str("phase", "")]
			if !ok {
				return fmt.Errorf("%s: phase=puback, pubrec or pubcomp", line)
			}
			f := Inflight{PacketID: uint16(pid), Phase: ph, Delivery: Delivery{Seq: uint64(seq)}}
			if ph != AwaitPubcomp {
				d, err := h.delivery(a)
				if err != nil {
					return err
				}
				d.Seq = uint64(seq)
				f.Delivery = d
			}
			inflight = append(inflight, f)
		case "inbound":
			inbound = append(inbound, uint16(pid))
		default:
			return fmt.Errorf("restore: unknown input %q", line)
		}
		if err := a.done(); err != nil {
			return fmt.Errorf("%s: %w", line, err)
		}
	}
	h.s.Restore(queued, inflight, inbound)
	return nil
}

var phaseNames = map[Phase]string{AwaitPuback: "await-puback", AwaitPubrec: "await-pubrec", AwaitPubcomp: "await-pubcomp"}

// state dumps the session: counters, then the in-flight window by packet
// id, the queue in order and the inbound QoS 2 ids awaiting PUBREL.
func (h *harness) state() output {
	s := h.s
	var out output
	out.add("queued=%d bytes=%d inflight=%d window=%d inbound-qos2=%d",
		s.Queued(), s.QueuedBytes(), s.InflightCount(), s.window(), s.InboundQoS2())
	pids := make([]int, 0, len(s.inflight))
	for pid := range s.inflight {
		pids = append(pids, int(pid))
	}
	slices.Sort(pids)
	for _, pid := range pids {
		f := s.inflight[uint16(pid)]
		if f.Phase == AwaitPubcomp {
			out.add("  inflight pid=%d seq=%d %s", pid, f.Seq, phaseNames[f.Phase])
		} else {
			out.add("  inflight pid=%d seq=%d %s %s", pid, f.Seq, phaseNames[f.Phase], lazy(func() string { return h.describe(&f.Delivery) }))
		}
	}
	for i := range s.queue.n {
		d := s.queue.buf[(s.queue.head+i)%len(s.queue.buf)]
		out.add("  queue seq=%d %s", d.Seq, lazy(func() string { return h.describe(&d) }))
	}
	if len(s.inboundQoS2) > 0 {
		var in []int
		for pid := range s.inboundQoS2 {
			in = append(in, int(pid))
		}
		slices.Sort(in)
		out.add("  inbound-qos2 %v", in)
	}
	return out
}

// checkInvariants checks what must hold after any sequence of calls,
// restore included: the queue's byte count matches its messages and its
// sequence numbers increase, packet ids are non-zero and name their entry,
// each phase matches its delivery's QoS, and no sequence number the
// session holds is one Enqueue could assign again.
func checkInvariants(s *State) error {
	q := &s.queue
	if q.n < 0 || q.n > len(q.buf) || q.n > 0 && (q.head < 0 || q.head >= len(q.buf)) {
		return fmt.Errorf("queue: head %d, n %d, buffer %d", q.head, q.n, len(q.buf))
	}
	bytes := 0
	var last uint64
	for i := range q.n {
		d := q.buf[(q.head+i)%len(q.buf)]
		if d.Msg == nil {
			return fmt.Errorf("queue[%d] (seq %d) has no message", i, d.Seq)
		}
		bytes += d.Msg.Size()
		if i > 0 && d.Seq <= last {
			return fmt.Errorf("queue: seq %d after %d", d.Seq, last)
		}
		last = d.Seq
		if d.Seq > s.seq {
			return fmt.Errorf("queue: seq %d beyond the last assigned %d", d.Seq, s.seq)
		}
	}
	if bytes != q.bytes {
		return fmt.Errorf("queue bytes %d, messages add up to %d", q.bytes, bytes)
	}
	for i := q.n; i < len(q.buf); i++ {
		if d := q.buf[(q.head+i)%len(q.buf)]; d.Msg != nil {
			// A freed slot that still points at a message keeps it alive.
			return fmt.Errorf("queue: free slot %d holds seq %d", (q.head+i)%len(q.buf), d.Seq)
		}
	}
	for pid, f := range s.inflight {
		if pid == 0 || f.PacketID != pid {
			return fmt.Errorf("inflight: entry %d has packet id %d", pid, f.PacketID)
		}
		if f.Seq > s.seq {
			return fmt.Errorf("inflight %d: seq %d beyond the last assigned %d", pid, f.Seq, s.seq)
		}
		switch f.Phase {
		case AwaitPuback, AwaitPubrec:
			want := packet.AtLeastOnce
			if f.Phase == AwaitPubrec {
				want = packet.ExactlyOnce
			}
			if f.Msg == nil || f.QoS != want {
				return fmt.Errorf("inflight %d: %s with QoS %d", pid, phaseNames[f.Phase], f.QoS)
			}
		case AwaitPubcomp:
			if f.Msg != nil {
				return fmt.Errorf("inflight %d: awaits PUBCOMP yet keeps its message", pid)
			}
		default:
			return fmt.Errorf("inflight %d: phase %d", pid, f.Phase)
		}
	}
	return nil
}
