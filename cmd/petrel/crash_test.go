package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/petrelmq/petrel/packet"
)

const (
	// crashKills is how many times one run kills the broker.
	crashKills = 24
	// crashLongestRound bounds the random moment, after the broker starts
	// listening, at which it is killed.
	crashLongestRound = 500 * time.Millisecond
	// crashPace is how often a publisher may start a new message: a round
	// carries at most a few hundred messages of each publisher.
	crashPace = 2 * time.Millisecond
	// crashWindow is how many messages a publisher leaves unacknowledged.
	crashWindow = 16
	// crashRetainEvery makes every fifth message of a publisher a retained
	// one, to its own retained topic, which no subscriber subscribes to.
	crashRetainEvery = 5
	// crashDeadline bounds every wait on the broker; a healthy run waits
	// milliseconds.
	crashDeadline = 20 * time.Second
)

// TestCrashKill9KeepsEveryAcknowledgement runs the real binary on one data
// directory and kills it with SIGKILL at random moments while QoS 1 and
// QoS 2 publishers and persistent-session subscribers (some online, some
// away for a while, at 5.0 and 3.1.1) carry on through restarts, resending
// what was unacknowledged. At the end it checks against what the
// publishers saw acknowledged: every QoS 1 message delivered at least
// once, every QoS 2 message exactly once, each publisher's messages first
// delivered in the order published, and after every restart each retained
// topic holding its last acknowledged publish or one sent after it.
//
// PETREL_CRASH_SEED replays a run's schedule of kills and absences; the
// timing of everything else is the machine's.
func TestCrashKill9KeepsEveryAcknowledgement(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test restarts the broker many times")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PETREL_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("PETREL_CRASH_SEED=%q: want an unsigned integer", s)
		}
	}
	t.Logf("seed %d (PETREL_CRASH_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	dir := t.TempDir()
	r := &crashRun{t: t, seed: seed, dir: filepath.Join(dir, "data"), config: filepath.Join(dir, "petrel.yaml"),
		problems: map[string][]string{}}
	// The queues of absent subscribers must hold every message: a drop
	// under the overflow policy would look like a lost message.
	if err := os.WriteFile(r.config, []byte("max_queued_messages: 1000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		v   packet.Version
		qos packet.QoS
	}{{packet.V5, packet.AtLeastOnce}, {packet.V5, packet.ExactlyOnce}, {packet.V311, packet.AtLeastOnce}, {packet.V311, packet.ExactlyOnce}} {
		r.pubs = append(r.pubs, &crashPublisher{index: i, id: fmt.Sprintf("pub%d-v%d-qos%d", i, c.v, c.qos),
			version: c.v, qos: c.qos, acked: map[uint64]bool{}, sentIn: map[uint64][]int{}, ackedIn: map[uint64]int{}, retainedAcked: -1})
	}
	for _, c := range []struct {
		id     string
		v      packet.Version
		online bool
	}{{"online-v5", packet.V5, true}, {"online-v311", packet.V311, true}, {"away-v5", packet.V5, false}, {"away-v311", packet.V311, false}} {
		r.subs = append(r.subs, &crashSubscriber{id: c.id, version: c.v, alwaysOnline: c.online,
			awaitingPubrel: map[uint16]crashKey{}, inUse: map[crashKey]uint16{}, got: map[crashKey]*crashDelivery{}, lastFirst: map[int]uint64{}})
	}

	p, addr := r.startBroker()
	r.establishSessions(addr)
	for round := 1; round <= crashKills; round++ {
		r.checkRetained(addr, fmt.Sprintf("before round %d", round))
		var online []*crashSubscriber
		for _, s := range r.subs {
			if s.alwaysOnline || rng.IntN(2) == 0 {
				online = append(online, s)
			}
		}
		// A quarter of the kills fall while clients reconnect and resend.
		after := time.Duration(rng.Int64N(int64(crashLongestRound)))
		if rng.IntN(4) == 0 {
			after = time.Duration(rng.Int64N(int64(20 * time.Millisecond)))
		}
		r.round(p, addr, round, online, after)
		p, addr = r.startBroker()
	}
	r.checkRetained(addr, "after the last restart")
	r.finish(p, addr, crashKills+1)
	r.report()
}

// crashRun is the state of one run: the clients, which outlive the
// broker processes, and what the checks found.
type crashRun struct {
	t      *testing.T
	seed   uint64
	dir    string // the data directory every broker process shares
	config string
	pubs   []*crashPublisher
	subs   []*crashSubscriber
	// ending is set just before the broker is killed or stopped: the
	// connection errors that follow are expected, any before are not.
	ending atomic.Bool

	mu             sync.Mutex
	problems       map[string][]string // by kind
	logs           []string            // the brokers' warnings and errors
	kills          int
	retainedChecks int
}

func (r *crashRun) problem(kind, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems[kind] = append(r.problems[kind], fmt.Sprintf(format, args...))
}

// connectionEnded notes the end of a client's connection, a problem
// unless the broker is being killed or stopped.
func (r *crashRun) connectionEnded(who string, round int, err error) {
	if !r.ending.Load() {
		r.problem("connection", "%s: round %d: %v", who, round, err)
	}
}

// reconnecting runs a client's connection again, as a client that
// reconnects by itself does, until it reports it is done, the broker is
// being killed or stopped, or crashDeadline has passed.
func (r *crashRun) reconnecting(connection func() (done bool)) {
	for deadline := time.Now().Add(crashDeadline); !r.ending.Load() && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if connection() {
			return
		}
	}
}

// startBroker starts petrel on the run's data directory and returns it
// with its address once it listens.
func (r *crashRun) startBroker() (*process, string) {
	r.t.Helper()
	p := start(r.t, "-c", r.config, "--listen", "127.0.0.1:0", "--data-dir", r.dir)
	timeout := time.After(crashDeadline)
	var early []string
	for {
		select {
		case rec, ok := <-p.logs:
			if !ok {
				<-p.done
				r.t.Fatalf("seed %d: after %d kills petrel exited before listening (%v):\n%s", r.seed, r.kills, p.err, strings.Join(early, "\n"))
			}
			if rec["msg"] == "listening" {
				go r.keepLogs(p, r.kills)
				return p, rec["address"].(string)
			}
			early = append(early, fmt.Sprint(rec))
		case <-timeout:
			r.t.Fatalf("seed %d: after %d kills petrel did not listen within %s:\n%s", r.seed, r.kills, crashDeadline, strings.Join(early, "\n"))
		}
	}
}

// keepLogs drains the log of the broker started after the given number
// of kills, so that it never blocks on stderr, keeping warnings and errors
// for the report of a failure.
func (r *crashRun) keepLogs(p *process, kills int) {
	for rec := range p.logs {
		if rec["level"] == "WARN" || rec["level"] == "ERROR" || strings.HasPrefix(fmt.Sprint(rec["msg"]), "not JSON") {
			r.mu.Lock()
			r.logs = append(r.logs, fmt.Sprintf("after %d kills: %v", kills, rec))
			r.mu.Unlock()
		}
	}
}

// establishSessions creates every client's persistent session with one
// subscription: the subscribers' to all the publishers' topics, the
// publishers' to a topic of their own. The SUBACK says the session is on
// disk, which the CONNACK does not.
func (r *crashRun) establishSessions(addr string) {
	for _, s := range r.subs {
		r.establish(addr, s.id, s.version, "crash/#", packet.ExactlyOnce)
	}
	for _, p := range r.pubs {
		r.establish(addr, p.id, p.version, "setup/"+p.id, packet.AtMostOnce)
	}
}

func (r *crashRun) establish(addr, id string, v packet.Version, filter string, qos packet.QoS) {
	t := r.t
	c, _, err := crashDial(addr, crashConnect(id, v, true))
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	defer c.nc.Close()
	if err := c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	got, err := c.read()
	if ack, ok := got.(*packet.Suback); err != nil || !ok || !slices.Equal(ack.ReasonCodes, []packet.ReasonCode{packet.ReasonCode(qos)}) {
		t.Fatalf("%s: got %+v (%v), want a SUBACK granting QoS %d", id, got, err, qos)
	}
	if err := c.send(&packet.Disconnect{}); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
}

// round runs every publisher and the online subscribers until the broker
// is killed, after the given time.
func (r *crashRun) round(p *process, addr string, round int, online []*crashSubscriber, after time.Duration) {
	r.ending.Store(false)
	var clients sync.WaitGroup
	for _, pub := range r.pubs {
		clients.Go(func() { r.reconnecting(func() bool { return pub.run(r, addr, round, true) }) })
	}
	for _, s := range online {
		clients.Go(func() { r.reconnecting(func() bool { s.run(r, addr, round); return false }) })
	}
	time.Sleep(after)
	r.ending.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		r.t.Fatal(err)
	}
	<-p.done
	clients.Wait()
	r.kills++
}

// finish runs a last round without a kill: the publishers complete what
// awaits acknowledgement and publish nothing new, every subscriber
// connects, and once each has every acknowledged message the broker is
// stopped.
func (r *crashRun) finish(p *process, addr string, round int) {
	r.ending.Store(false)
	var pubs, subs sync.WaitGroup
	for _, pub := range r.pubs {
		pubs.Go(func() { r.reconnecting(func() bool { return pub.run(r, addr, round, false) }) })
	}
	for _, s := range r.subs {
		subs.Go(func() { r.reconnecting(func() bool { s.run(r, addr, round); return false }) })
	}
	pubs.Wait()
	for _, pub := range r.pubs {
		if len(pub.inflight) > 0 {
			r.problem("incomplete", "%s: %d messages still unacknowledged at the end", pub.id, len(pub.inflight))
		}
	}
	// Half the deadline, so that an idle subscriber's read does not time
	// out first when something is missing.
	for deadline := time.Now().Add(crashDeadline / 2); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		missing := 0
		for _, s := range r.subs {
			missing += s.missing(r.pubs)
		}
		if missing == 0 {
			break
		}
	}
	r.checkRetained(addr, "after the last publish")
	r.ending.Store(true)
	if err := p.stop(r.t, syscall.SIGTERM); err != nil {
		r.problem("shutdown", "after SIGTERM petrel exited with %v", err)
	}
	subs.Wait()
}

// checkRetained subscribes a new clean client to every retained topic
// that has had an acknowledged publish and checks each holds that publish
// or one sent after it.
func (r *crashRun) checkRetained(addr, when string) {
	var filters []packet.Subscription
	byTopic := map[string]*crashPublisher{}
	for _, p := range r.pubs {
		if p.retainedAcked >= 0 {
			filters = append(filters, packet.Subscription{Filter: p.retainedTopic()})
			byTopic[p.retainedTopic()] = p
		}
	}
	if len(filters) == 0 {
		return
	}
	c, _, err := crashDial(addr, &packet.Connect{Version: packet.V5, CleanStart: true, ClientID: "retained-check", KeepAlive: 60})
	if err != nil {
		r.t.Fatalf("seed %d: retained check %s: %v", r.seed, when, err)
	}
	defer c.nc.Close()
	if err := c.send(&packet.Subscribe{PacketID: 1, Subscriptions: filters}); err != nil {
		r.t.Fatalf("seed %d: retained check %s: %v", r.seed, when, err)
	}
	seen := map[string]bool{}
	for len(seen) < len(filters) {
		got, err := c.read()
		if err != nil {
			for topic, p := range byTopic {
				if !seen[topic] {
					r.problem("retained", "%s: no retained message on %s (%v); #%d was acknowledged", when, topic, err, p.retained[p.retainedAcked])
				}
			}
			return
		}
		m, ok := got.(*packet.Publish)
		if !ok {
			continue
		}
		// The packet is valid only until the next read.
		topic := strings.Clone(m.Topic)
		p := byTopic[topic]
		pub, seq, ok := parseCrashPayload(m.Payload)
		switch {
		case p == nil || !ok || pub != p.index:
			r.problem("retained", "%s: unexpected message %q on %s", when, m.Payload, topic)
			continue
		case seen[topic]:
			r.problem("retained", "%s: a second message, %q, on %s", when, m.Payload, topic)
			continue
		case !m.Retain:
			r.problem("retained", "%s: %q on %s without RETAIN", when, m.Payload, topic)
		}
		seen[topic] = true
		if since := p.retained[p.retainedAcked:]; !slices.Contains(since, seq) {
			r.problem("retained", "%s: %s holds #%d, but #%d was acknowledged and only %v sent since", when, topic, seq, since[0], since[1:])
		}
	}
	c.send(&packet.Disconnect{})
	r.retainedChecks += len(filters)
}

// report checks that every acknowledged message reached every subscriber,
// logs the counts checked and reports the problems found.
func (r *crashRun) report() {
	t := r.t
	var ack1, ack2, retained, completed, resentPublish, resentPubrel int
	for _, p := range r.pubs {
		for seq := range p.acked {
			switch {
			case seq%crashRetainEvery == 0:
				retained++
			case p.qos == packet.AtLeastOnce:
				ack1++
			default:
				ack2++
			}
		}
		completed += p.completed
		resentPublish += p.resentPublish
		resentPubrel += p.resentPubrel
	}
	t.Logf("%d kills; acknowledged: %d QoS 1 messages, %d QoS 2 (%d exchanges completed by PUBCOMP), %d retained; resent after reconnecting: %d PUBLISH with DUP, %d PUBREL",
		r.kills, ack1, ack2, completed, retained, resentPublish, resentPubrel)
	for _, s := range r.subs {
		for _, p := range r.pubs {
			for seq := uint64(1); seq <= p.sent; seq++ {
				k := crashKey{p.index, seq}
				switch {
				case seq%crashRetainEvery == 0 || !p.acked[seq] || s.got[k] != nil:
				case s.inUse[k] != 0:
					r.problem("lost (sent under a packet id in use)", "%s never got p%d #%d, which the broker acknowledged and sent it as packet id %d",
						s.id, p.index, seq, s.inUse[k])
				default:
					r.problem("lost", "%s never got p%d #%d; the publisher sent it in rounds %v and had it acknowledged in round %d",
						s.id, p.index, seq, p.sentIn[seq], p.ackedIn[seq])
				}
			}
		}
		for k := range s.got {
			if k.pub < 0 || k.pub >= len(r.pubs) || k.seq > r.pubs[k.pub].sent || k.seq%crashRetainEvery == 0 {
				r.problem("garbage", "%s got p%d #%d, which was never sent to its topic", s.id, k.pub, k.seq)
			}
		}
		for _, tw := range s.twice {
			r.exactlyOnceProblem(s, tw)
		}
		t.Logf("%s: %d deliveries of %d messages checked; %d QoS 1 duplicates (allowed); %d QoS 2 resends absorbed by packet id",
			s.id, s.deliveries, len(s.got), s.duplicates, s.absorbed)
	}
	t.Logf("retained topics checked: %d times over %d restarts", r.retainedChecks, r.kills)
	kinds := make([]string, 0, len(r.problems))
	for kind := range r.problems {
		kinds = append(kinds, kind)
	}
	slices.Sort(kinds)
	for _, kind := range kinds {
		list := r.problems[kind]
		t.Errorf("seed %d: %d %s problems, the first:\n\t%s", r.seed, len(list), kind, strings.Join(list[:min(len(list), 10)], "\n\t"))
	}
	if t.Failed() && len(r.logs) > 0 {
		t.Logf("the broker's warnings and errors, the last %d:\n%s", min(len(r.logs), 30), strings.Join(r.logs[max(0, len(r.logs)-30):], "\n"))
	}
}

// exactlyOnceProblem reports a QoS 2 message delivered twice, sorted by
// what the clients saw, which points to the cause: a resend with DUP of
// a packet id after its PUBREL, a message the publisher had to resend, or
// neither.
func (r *crashRun) exactlyOnceProblem(s *crashSubscriber, tw crashTwice) {
	p := r.pubs[tw.key.pub]
	sent := p.sentIn[tw.key.seq]
	first, again := tw.first, tw.again
	released := ""
	if first.released > 0 {
		released = fmt.Sprintf(", PUBREL in round %d", first.released)
	}
	kind := "exactly-once (sent again; the publisher had not resent it)"
	switch {
	case first.released > 0 && again.pid == first.pid && again.dup:
		kind = "exactly-once (PUBLISH resent with DUP after PUBREL)"
	case len(sent) > 1 && sent[1] <= again.round:
		// The broker may have taken the resend for a new message, and
		// routed it again, perhaps while the subscriber was away.
		kind = "exactly-once (the publisher had resent it)"
	}
	r.problem(kind, "%s got p%d #%d in round %d as packet id %d (DUP %v)%s, and in round %d as packet id %d (DUP %v); the publisher sent it in rounds %v and had PUBREC in round %d",
		s.id, tw.key.pub, tw.key.seq, first.round, first.pid, first.dup, released, again.round, again.pid, again.dup, sent, p.ackedIn[tw.key.seq])
}
