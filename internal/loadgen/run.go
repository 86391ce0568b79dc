package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/packet"
)

const (
	// maxDialing bounds the connections being opened at once, so a large
	// conn run does not overflow the server's accept backlog.
	maxDialing = 64
	// quiet is how long the drain waits for a delivery or acknowledgement
	// before it concludes that no more will come.
	quiet = time.Second
	// maxErrorSamples is how many error messages a report quotes.
	maxErrorSamples = 10
)

// run is one load test in progress.
type run struct {
	cfg   Config
	id    uint32 // written into every payload
	clock clock

	// stop is closed, and stopping set, when publishing ends.
	stop     chan struct{}
	stopOnce sync.Once
	stopping atomic.Bool
	// pubStart is the clock reading publishing began at, the origin of the
	// publishers' schedules.
	pubStart int64

	// dialAddr is the server's address as the first connection found it.
	dialAddr atomic.Pointer[string]

	mu      sync.Mutex
	clients []*client
	pubs    []*publisher
	subs    []*subscriber
	readers sync.WaitGroup

	connected  atomic.Int64 // connections open
	errors     atomic.Int64
	errMu      sync.Mutex
	errSamples []string

	samples     []Sample // the ticker's, until it has stopped
	tickerDone  chan struct{}
	tickerEnded chan struct{}
}

// Run performs one load test and reports on it. It returns an error only
// when the test could not take place: a bad configuration, or clients
// that could not connect or subscribe (except in Conn, which counts
// them). What went wrong during a test is in the report's Failures.
// When ctx ends, publishing stops and the report covers what was done.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.resolve(); err != nil {
		return nil, err
	}
	if cfg.ClientIDPrefix == "" {
		cfg.ClientIDPrefix = "petrel-bench-" + strconv.Itoa(os.Getpid()) + "-"
	}
	r := &run{
		cfg:         cfg,
		id:          rand.Uint32(),
		clock:       newClock(),
		stop:        make(chan struct{}),
		tickerDone:  make(chan struct{}),
		tickerEnded: make(chan struct{}),
	}
	go r.tick()
	defer func() {
		r.closeAll()
		r.stopTicker()
	}()
	if cfg.BrokerPID != 0 {
		if _, err := readProc(cfg.BrokerPID); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
	}
	if cfg.Scenario == Conn {
		return r.conns(ctx)
	}
	return r.messages(ctx)
}

// conns opens the connections, holds them and closes them.
func (r *run) conns(ctx context.Context) (*Report, error) {
	cfg := &r.cfg
	before := r.measure()
	began := time.Now()
	connects := NewHistogram()
	var mu sync.Mutex
	var failed int64
	var firstErr error
	r.connectAll(ctx, cfg.Clients, func(ctx context.Context, i int) error {
		c, took, err := r.open(ctx, i, cfg.ClientIDPrefix+"conn-"+strconv.Itoa(i), 256)
		if err == nil && cfg.SubTopic != "" {
			err = c.subscribeIdle(idleFilters(cfg.SubTopic, i, cfg.Filters), *cfg.SubQoS)
		}
		if err == nil && cfg.Retained > 0 {
			err = c.publishRetained(retainedTopics(cfg.Topic, i, cfg.Clients, cfg.Retained))
		}
		if err != nil && c != nil {
			c.nc.Close()
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			return nil
		}
		connects.Record(took)
		r.add(c, c.idle)
		return nil
	})
	connected := time.Since(began)
	if cfg.Ready != nil && ctx.Err() == nil {
		cfg.Ready()
	}
	if ctx.Err() == nil {
		hold := time.NewTimer(cfg.Duration)
		select {
		case <-hold.C:
		case <-ctx.Done():
			hold.Stop()
		}
	}
	after := r.measure()
	r.closeAll()
	r.stopTicker()
	rep := r.newReport(time.Since(began), before, after)
	rep.Connections = &Connections{
		Attempted:   int64(connects.Count()) + failed,
		Established: int64(connects.Count()),
		Failed:      failed,
		Seconds:     connected.Seconds(),
	}
	if connected > 0 {
		rep.Connections.PerSecond = float64(connects.Count()) / connected.Seconds()
	}
	rep.ConnectLatency = newLatency(connects)
	rep.perUnit(rep.Connections.Established, "connection")
	if failed > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d of %d connections failed, the first: %v", failed, cfg.Clients, firstErr))
	}
	rep.finish(r)
	return rep, nil
}

// idleFilters are the filters of Conn connection i: pattern with %i
// replaced by i and %j by 0 to n-1.
func idleFilters(pattern string, i, n int) []string {
	pattern = expand(pattern, i)
	if n == 1 {
		return []string{pattern}
	}
	fs := make([]string, n)
	for j := range fs {
		fs[j] = strings.ReplaceAll(pattern, "%j", strconv.Itoa(j))
	}
	return fs
}

// retainedTopics are the topics of the retained messages Conn connection
// i of clients publishes: every clients-th of the total, from the i-th.
func retainedTopics(pattern string, i, clients, total int) []string {
	var ts []string
	for k := i; k < total; k += clients {
		ts = append(ts, expand(pattern, k))
	}
	return ts
}

// messages runs a scenario of publishers and subscribers.
func (r *run) messages(ctx context.Context) (*Report, error) {
	cfg := &r.cfg
	groups, subs := r.plan()
	r.mu.Lock()
	r.subs, r.pubs = subs, make([]*publisher, cfg.Pubs)
	r.mu.Unlock()
	err := r.connectAll(ctx, cfg.Subs, func(ctx context.Context, i int) error {
		c, _, err := r.open(ctx, i, cfg.ClientIDPrefix+"sub-"+strconv.Itoa(i), 64<<10)
		if err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
		s := r.subs[i]
		s.client, s.suback, s.latency = c, make(chan error, 1), NewHistogram()
		r.add(c, s.read)
		if err := s.subscribe(*cfg.SubQoS); err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
		return nil
	})
	if err == nil {
		err = r.connectAll(ctx, cfg.Pubs, func(ctx context.Context, i int) error {
			c, _, err := r.open(ctx, cfg.Subs+i, cfg.ClientIDPrefix+"pub-"+strconv.Itoa(i), 4<<10)
			if err != nil {
				return fmt.Errorf("publisher %d: %w", i, err)
			}
			p, err := newPublisher(c, i, expand(cfg.Topic, i), cfg.QoS[i%len(cfg.QoS)])
			if err != nil {
				c.nc.Close()
				return fmt.Errorf("publisher %d: %w", i, err)
			}
			r.mu.Lock()
			r.pubs[i] = p
			r.mu.Unlock()
			r.add(c, p.read)
			return nil
		})
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, errors.New("interrupted while connecting")
		}
		return nil, err
	}

	before := r.measure()
	began := time.Now()
	r.pubStart = r.clock.at(began)
	finished := make(chan struct{})
	var sending sync.WaitGroup
	for _, p := range r.pubs {
		sending.Go(func() { p.publish(uint32(cfg.Count)) })
	}
	go func() {
		sending.Wait()
		if cfg.Scenario == Sub {
			r.awaitTargets(ctx)
		}
		close(finished)
	}()
	var limit <-chan time.Time
	if cfg.Duration > 0 {
		t := time.NewTimer(cfg.Duration)
		defer t.Stop()
		limit = t.C
	}
	select {
	case <-finished:
	case <-limit:
	case <-ctx.Done():
	}
	r.stopOnce.Do(func() {
		r.stopping.Store(true)
		close(r.stop)
	})
	r.awaitPublishers(&sending)
	published := time.Since(began)
	r.drain(groups)
	after := r.measure()
	elapsed := time.Since(began)
	r.closeAll()
	r.stopTicker()

	rep := r.newReport(elapsed, before, after)
	rep.account(r, groups, published)
	rep.finish(r)
	return rep, nil
}

// plan makes the subscribers (not yet connected) and their groups, and
// finds which publishers each group hears.
func (r *run) plan() ([]*group, []*subscriber) {
	cfg := &r.cfg
	topics := make(map[string][]int)
	for i := range cfg.Pubs {
		t := expand(cfg.Topic, i)
		topics[t] = append(topics[t], i)
	}
	byFilter := make(map[string]*group)
	var groups []*group
	var subs []*subscriber
	for i := range cfg.Subs {
		f := expand(cfg.SubTopic, i)
		s := &subscriber{index: i, filter: f, reached: make(chan struct{})}
		if cfg.Scenario == Sub {
			s.target = cfg.Count
		}
		if cfg.SharedGroup != "" {
			s.filter = "$share/" + cfg.SharedGroup + "/" + f
		}
		g := byFilter[s.filter]
		if g == nil || cfg.SharedGroup == "" {
			g = &group{filter: f}
			if !hasWildcard(f) {
				g.pubs = topics[f]
			} else {
				for p := range cfg.Pubs {
					if matches(f, expand(cfg.Topic, p)) {
						g.pubs = append(g.pubs, p)
					}
				}
			}
			byFilter[s.filter] = g
			groups = append(groups, g)
		}
		g.members = append(g.members, s)
		s.group = g
		subs = append(subs, s)
	}
	return groups, subs
}

func hasWildcard(filter string) bool {
	for _, c := range filter {
		if c == '+' || c == '#' {
			return true
		}
	}
	return false
}

// awaitPublishers waits for the publishers to stop once told to. One
// still blocked writing after the drain time has a server that stopped
// reading: its connection is failed, which ends the write.
func (r *run) awaitPublishers(sending *sync.WaitGroup) {
	stopped := make(chan struct{})
	go func() {
		sending.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
		return
	case <-time.After(r.cfg.Drain):
	}
	for _, p := range r.pubs {
		select {
		case <-p.finished:
		default:
			p.fail(errors.New("still writing when publishing ended: the server stopped reading"))
		}
	}
	<-stopped
}

// awaitTargets waits for every subscriber to receive its count, or to
// lose its connection.
func (r *run) awaitTargets(ctx context.Context) {
	for _, s := range r.subs {
		select {
		case <-s.reached:
		case <-s.done:
		case <-ctx.Done():
			return
		case <-r.stop:
			return
		}
	}
}

// drain waits until every message published has been acknowledged and
// delivered to every group that should hear it, until nothing has moved
// for a second, or until the drain time is up.
func (r *run) drain(groups []*group) {
	var expected int64
	for _, g := range groups {
		for _, p := range g.pubs {
			expected += r.pubs[p].sent.Load()
		}
	}
	deadline := time.Now().Add(r.cfg.Drain)
	last, lastMoved := int64(-1), time.Now()
	for time.Now().Before(deadline) {
		var outstanding, unique, moved int64
		for _, p := range r.pubs {
			o := p.outstanding.Load()
			outstanding += o
			moved += p.sent.Load() - o
		}
		for _, s := range r.subs {
			unique += s.unique.Load()
			moved += s.received.Load()
		}
		if outstanding == 0 && unique >= expected {
			return
		}
		if moved != last {
			last, lastMoved = moved, time.Now()
		} else if time.Since(lastMoved) > quiet {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connectAll opens n clients with open, paced by the connect rate and at
// most maxDialing at a time. The first error stops it and is returned.
func (r *run) connectAll(ctx context.Context, n int, open func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	slots := make(chan struct{}, maxDialing)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		if rate := r.cfg.ConnectRate; rate > 0 {
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
			}
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := open(ctx, i); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// add registers an open client and starts its reader.
func (r *run) add(c *client, read func()) {
	c.out.lastWrite.Store(r.clock.now())
	r.connected.Add(1)
	r.mu.Lock()
	r.clients = append(r.clients, c)
	r.mu.Unlock()
	r.readers.Go(func() {
		defer close(c.done)
		read()
	})
}

// closeAll disconnects every client, waits for their readers and closes
// their connections.
func (r *run) closeAll() {
	r.mu.Lock()
	clients := r.clients
	r.clients = nil
	r.mu.Unlock()
	var wg sync.WaitGroup
	for i := 0; i < len(clients); i += maxDialing {
		batch := clients[i:min(i+maxDialing, len(clients))]
		wg.Go(func() {
			for _, c := range batch {
				c.close()
			}
		})
	}
	wg.Wait()
	r.readers.Wait()
	for _, c := range clients {
		c.nc.Close()
	}
}

// failure counts an error and keeps the first few for the report.
func (r *run) failure(err error) {
	r.errors.Add(1)
	r.errMu.Lock()
	if len(r.errSamples) < maxErrorSamples {
		r.errSamples = append(r.errSamples, err.Error())
	}
	r.errMu.Unlock()
}

// sleep waits d unless publishing stops first; it reports whether
// publishing goes on.
func (r *run) sleep(t *time.Timer, d time.Duration) bool {
	t.Reset(d)
	select {
	case <-t.C:
		return true
	case <-r.stop:
		return false
	}
}

// tick samples the run every second, for the progress line and the
// timeline, and sends PINGREQ on connections that have been quiet for half
// their keep-alive.
func (r *run) tick() {
	defer close(r.tickerEnded)
	began := time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var prev Sample
	at := began
	for {
		select {
		case <-r.tickerDone:
			if s := r.sample(prev, time.Since(began), time.Since(at)); s.T-prev.T > 0.05 {
				r.samples = append(r.samples, s)
			}
			return
		case now := <-t.C:
			s := r.sample(prev, now.Sub(began), now.Sub(at))
			r.samples = append(r.samples, s)
			if r.cfg.Progress != nil {
				r.cfg.Progress(s)
			}
			prev, at = s, now
			r.ping()
		}
	}
}

func (r *run) stopTicker() {
	select {
	case <-r.tickerDone:
	default:
		close(r.tickerDone)
	}
	<-r.tickerEnded
}

// sample sums the clients' counters.
func (r *run) sample(prev Sample, at, span time.Duration) Sample {
	s := Sample{T: at.Seconds(), Connections: r.connected.Load(), Errors: r.errors.Load()}
	r.mu.Lock()
	for _, p := range r.pubs {
		if p != nil {
			s.Sent += p.sent.Load()
			s.InFlight += p.outstanding.Load()
		}
	}
	for _, sub := range r.subs {
		s.Received += sub.received.Load()
	}
	r.mu.Unlock()
	if secs := span.Seconds(); secs > 0 {
		s.SentRate = float64(s.Sent-prev.Sent) / secs
		s.ReceivedRate = float64(s.Received-prev.Received) / secs
	}
	return s
}

// ping sends PINGREQ where keep-alive needs it.
func (r *run) ping() {
	now := r.clock.now()
	r.mu.Lock()
	clients := r.clients
	r.mu.Unlock()
	for _, c := range clients {
		if ka := c.keepAlive(); ka > 0 && time.Duration(now-c.out.lastWrite.Load()) >= ka/2 {
			c.send([]byte{byte(packet.PINGREQ) << 4, 0})
		}
	}
}

// measure samples the broker's and this process's CPU and memory.
func (r *run) measure() (m measurement) {
	m.at = time.Now()
	if pid := r.cfg.BrokerPID; pid != 0 {
		if s, err := readProc(pid); err == nil {
			m.broker = &s
		} else {
			r.failure(fmt.Errorf("broker: %w", err))
		}
	}
	if s, err := readProc(os.Getpid()); err == nil {
		m.self = &s
	}
	return m
}

// measurement is the processes' state at one moment.
type measurement struct {
	at           time.Time
	broker, self *procSample
}
