package loadgen

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// Report is what a run measured. Its JSON form is what petrel bench
// --json prints; durations are in seconds, latencies in microseconds.
type Report struct {
	Scenario    Scenario  `json:"scenario"`
	Server      string    `json:"server"`
	Transport   string    `json:"transport"`
	Version     string    `json:"protocol_version"`
	Clients     int       `json:"clients,omitempty"`
	IdleFilter  string    `json:"idle_filter,omitempty"` // what each of Conn's clients subscribed to (%i: its index)
	Publishers  int       `json:"publishers,omitempty"`
	Subscribers int       `json:"subscribers,omitempty"`
	QoS         []int     `json:"qos,omitempty"`
	SubQoS      *int      `json:"subscription_qos,omitempty"`
	PayloadSize int       `json:"payload_size,omitempty"`
	Rate        float64   `json:"rate_per_publisher,omitempty"`
	Inflight    int       `json:"inflight,omitempty"`
	Started     time.Time `json:"started"`
	// Seconds is how long the publishers published (Conn: held its
	// connections); Elapsed adds the time deliveries took to drain.
	Seconds float64 `json:"seconds"`
	Elapsed float64 `json:"elapsed"`
	// ReceivedSeconds is from the start of publishing to the last
	// delivery: Elapsed without the drain's wait for messages that never
	// came.
	ReceivedSeconds float64 `json:"received_seconds,omitempty"`

	// Sent counts the messages published; Acknowledged those of QoS 1 and
	// 2 the server acknowledged, of which Refused with a failure code.
	Sent         int64 `json:"sent"`
	Acknowledged int64 `json:"acknowledged"`
	Refused      int64 `json:"refused"`
	// Expected counts the deliveries the subscriptions call for (one
	// per matching subscriber, or shared group, per message sent);
	// Received the deliveries, duplicates included; Lost the expected
	// ones that never came; Duplicates the deliveries of a message a
	// subscriber (or its shared group) had already received. Foreign
	// counts messages that came from neither this run nor another load
	// generator.
	Expected   int64 `json:"expected"`
	Received   int64 `json:"received"`
	Lost       int64 `json:"lost"`
	Duplicates int64 `json:"duplicates"`
	Foreign    int64 `json:"foreign,omitempty"`
	// Unexpected counts deliveries of this run's messages that none of its
	// subscriptions called for: a subscription left over from an earlier
	// persistent session, or a server that routes wrongly.
	Unexpected int64      `json:"unexpected,omitempty"`
	ByQoS      []QoSCount `json:"by_qos,omitempty"`
	// Inferred says Expected was inferred from the lowest and highest
	// sequence numbers received from each publisher, as in Sub: losses
	// before the first message received and after the last go unseen.
	Inferred bool `json:"inferred,omitempty"`

	// SentPerSecond is over Seconds, ReceivedPerSecond over
	// ReceivedSeconds.
	SentPerSecond     float64 `json:"sent_per_second"`
	ReceivedPerSecond float64 `json:"received_per_second"`

	// Latency is from publication to delivery, from the timestamp in each
	// payload; AckLatency from PUBLISH to PUBACK or PUBCOMP;
	// ConnectLatency from dialing to CONNACK.
	Latency        *Latency `json:"latency,omitempty"`
	AckLatency     *Latency `json:"ack_latency,omitempty"`
	ConnectLatency *Latency `json:"connect_latency,omitempty"`

	Connections *Connections `json:"connections,omitempty"`
	Broker      *Process     `json:"broker,omitempty"`
	Bench       *Process     `json:"bench,omitempty"`

	Errors       int64    `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	Timeline     []Sample `json:"timeline"`
	// Failures say why the run failed: lost QoS 1 or 2 messages,
	// duplicate QoS 2 deliveries, errors. Empty means it passed.
	Failures []string `json:"failures,omitempty"`
}

// QoSCount is the delivery accounting at one QoS: that of the
// subscription, or of the publication if lower.
type QoSCount struct {
	QoS        int   `json:"qos"`
	Expected   int64 `json:"expected"`
	Received   int64 `json:"received"`
	Lost       int64 `json:"lost"`
	Duplicates int64 `json:"duplicates"`
}

// Latency summarizes a histogram, in microseconds.
type Latency struct {
	Count       uint64       `json:"count"`
	Min         float64      `json:"min_us"`
	Mean        float64      `json:"mean_us"`
	P50         float64      `json:"p50_us"`
	P90         float64      `json:"p90_us"`
	P99         float64      `json:"p99_us"`
	P999        float64      `json:"p99_9_us"`
	Max         float64      `json:"max_us"`
	Percentiles []Percentile `json:"percentiles"`
}

// Percentile is one point of a latency distribution.
type Percentile struct {
	P      float64 `json:"p"`
	Micros float64 `json:"us"`
}

// Connections is what Conn did.
type Connections struct {
	Attempted   int64   `json:"attempted"`
	Established int64   `json:"established"`
	Failed      int64   `json:"failed"`
	Seconds     float64 `json:"seconds"` // to open them all
	PerSecond   float64 `json:"per_second"`
}

// Process is a process's CPU time and memory over the run: the broker's,
// when its process id was given, and the load generator's own.
type Process struct {
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// Cores is CPU seconds per second: 1 is one core busy all the time.
	Cores float64 `json:"cores"`
	// CPUPerMessage is CPU time per delivered message (per published
	// message when nothing is delivered), in microseconds.
	CPUPerMessage float64 `json:"cpu_per_message_us,omitempty"`
	// CPUPerConnection and RSSPerConnection are Conn's: CPU time and
	// growth of resident memory per connection established.
	CPUPerConnection float64 `json:"cpu_per_connection_us,omitempty"`
	RSSBefore        int64   `json:"rss_before_bytes"`
	RSSAfter         int64   `json:"rss_after_bytes"`
	RSSPerConnection float64 `json:"rss_per_connection_bytes,omitempty"`
}

// Sample is one second of a run: totals so far and rates over the second.
type Sample struct {
	T            float64 `json:"t"` // seconds since the run began
	Connections  int64   `json:"connections"`
	Sent         int64   `json:"sent"`
	Received     int64   `json:"received"`
	SentRate     float64 `json:"sent_per_second"`
	ReceivedRate float64 `json:"received_per_second"`
	InFlight     int64   `json:"in_flight"`
	Errors       int64   `json:"errors"`
}

// percentilePoints are where a latency distribution is drawn: evenly to
// 90%, then each further nine.
var percentilePoints = []float64{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func newLatency(h *Histogram) *Latency {
	if h.Count() == 0 {
		return nil
	}
	l := &Latency{
		Count: h.Count(),
		Min:   micros(h.Min()),
		Mean:  micros(h.Mean()),
		P50:   micros(h.Percentile(50)),
		P90:   micros(h.Percentile(90)),
		P99:   micros(h.Percentile(99)),
		P999:  micros(h.Percentile(99.9)),
		Max:   micros(h.Max()),
	}
	for _, p := range percentilePoints {
		l.Percentiles = append(l.Percentiles, Percentile{P: p, Micros: micros(h.Percentile(p))})
	}
	return l
}

// newReport fills in what every scenario reports.
func (r *run) newReport(elapsed time.Duration, before, after measurement) *Report {
	cfg := &r.cfg
	rep := &Report{
		Scenario:  cfg.Scenario,
		Server:    cfg.Addr,
		Transport: cfg.Transport(),
		Version:   cfg.Version.String(),
		Started:   before.at,
		Elapsed:   elapsed.Seconds(),
		Seconds:   elapsed.Seconds(),
	}
	if cfg.Scenario == Conn {
		rep.Clients, rep.IdleFilter = cfg.Clients, cfg.SubTopic
	} else {
		rep.Publishers, rep.Subscribers = cfg.Pubs, cfg.Subs
		for _, q := range cfg.QoS {
			rep.QoS = append(rep.QoS, int(q))
		}
		if cfg.Subs > 0 {
			q := int(*cfg.SubQoS)
			rep.SubQoS = &q
		}
		rep.PayloadSize, rep.Rate = cfg.Size, cfg.Rate
		if slices.ContainsFunc(cfg.QoS, func(q packet.QoS) bool { return q > 0 }) && cfg.Pubs > 0 {
			rep.Inflight = cfg.Inflight
		}
	}
	secs := after.at.Sub(before.at).Seconds()
	process := func(pid int, b, a *procSample) *Process {
		if b == nil || a == nil {
			return nil
		}
		cpu := (a.cpu - b.cpu).Seconds()
		return &Process{PID: pid, CPUSeconds: cpu, Cores: cpu / secs, RSSBefore: b.rss, RSSAfter: a.rss}
	}
	rep.Broker = process(cfg.BrokerPID, before.broker, after.broker)
	rep.Bench = process(0, before.self, after.self)
	if rep.Bench != nil {
		rep.Bench.PID = os.Getpid()
	}
	return rep
}

// perUnit divides the processes' CPU (and, for connections, memory) by
// what they handled.
func (rep *Report) perUnit(n int64, unit string) {
	if n == 0 {
		return
	}
	for _, p := range []*Process{rep.Broker, rep.Bench} {
		if p == nil {
			continue
		}
		perUS := p.CPUSeconds * 1e6 / float64(n)
		switch unit {
		case "connection":
			p.CPUPerConnection = perUS
			p.RSSPerConnection = float64(p.RSSAfter-p.RSSBefore) / float64(n)
		default:
			p.CPUPerMessage = perUS
		}
	}
}

// account counts sends, deliveries, losses and duplicates.
func (rep *Report) account(r *run, groups []*group, published time.Duration) {
	rep.Seconds = published.Seconds()
	acks := NewHistogram()
	for _, p := range r.pubs {
		rep.Sent += p.sent.Load()
		rep.Refused += p.refused.Load()
		rep.Acknowledged += int64(p.acks.Count())
		acks.Merge(p.acks)
	}
	rep.AckLatency = newLatency(acks)
	latency := NewHistogram()
	var last int64
	for _, s := range r.subs {
		latency.Merge(s.latency)
		rep.Foreign += s.foreign.Load()
		last = max(last, s.last)
	}
	if last > r.pubStart {
		rep.ReceivedSeconds = time.Duration(last - r.pubStart).Seconds()
	}
	rep.Latency = newLatency(latency)

	byQoS := map[packet.QoS]*QoSCount{}
	add := func(q packet.QoS, expected int64, c groupCount) {
		row := byQoS[q]
		if row == nil {
			row = &QoSCount{QoS: int(q)}
			byQoS[q] = row
		}
		row.Expected += expected
		row.Received += int64(c.received)
		row.Lost += max(expected-int64(c.unique), 0)
		row.Duplicates += int64(c.received - c.unique)
	}
	for _, g := range groups {
		members := make([]*tally, len(g.members))
		granted := packet.QoS(2)
		for i, s := range g.members {
			members[i] = &s.tally
			granted = min(granted, s.granted)
		}
		if r.cfg.Scenario == Sub {
			rep.Inferred = true
			for _, k := range heard(members) {
				c := countGroup(members, k.run, k.pub)
				add(min(c.qos, granted), int64(c.maxSeq)-int64(c.minSeq)+1, c)
			}
			continue
		}
		called := make(map[int]bool, len(g.pubs))
		for _, i := range g.pubs {
			called[i] = true
			p := r.pubs[i]
			add(min(p.qos, granted), p.sent.Load(), countGroup(members, r.id, i))
		}
		for _, k := range heard(members) {
			if k.run == r.id && !called[k.pub] {
				rep.Unexpected += int64(countGroup(members, k.run, k.pub).received)
			}
		}
	}
	for q := range packet.QoS(3) {
		row := byQoS[q]
		if row == nil {
			continue
		}
		rep.ByQoS = append(rep.ByQoS, *row)
		rep.Expected += row.Expected
		rep.Received += row.Received
		rep.Lost += row.Lost
		rep.Duplicates += row.Duplicates
		switch {
		case row.Lost > 0 && q > 0:
			rep.Failures = append(rep.Failures, fmt.Sprintf("lost %d of %d QoS %d messages", row.Lost, row.Expected, q))
		case row.Duplicates > 0 && q == 2:
			rep.Failures = append(rep.Failures, fmt.Sprintf("%d duplicate QoS 2 deliveries: exactly once was broken", row.Duplicates))
		}
	}
	if published > 0 {
		rep.SentPerSecond = float64(rep.Sent) / published.Seconds()
	}
	if rep.ReceivedSeconds > 0 {
		rep.ReceivedPerSecond = float64(rep.Received) / rep.ReceivedSeconds
	}
	if rep.Received > 0 {
		rep.perUnit(rep.Received, "message")
	} else {
		rep.perUnit(rep.Sent, "message")
	}
}

// pubKey names a publisher of some run.
type pubKey struct {
	run uint32
	pub int
}

// heard lists the publishers the tallies heard from, in order.
func heard(tallies []*tally) []pubKey {
	seen := map[pubKey]bool{}
	var keys []pubKey
	for _, t := range tallies {
		for _, rt := range t.runs {
			for i, s := range rt.pubs {
				if k := (pubKey{rt.run, i}); s != nil && !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
		}
	}
	return keys
}

// finish adds the errors and the timeline.
func (rep *Report) finish(r *run) {
	rep.Errors = r.errors.Load()
	r.errMu.Lock()
	rep.ErrorSamples = slices.Clone(r.errSamples)
	r.errMu.Unlock()
	if rep.Errors > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d errors, the first: %s", rep.Errors, rep.ErrorSamples[0]))
	}
	rep.Timeline = r.samples
	if rep.Timeline == nil {
		rep.Timeline = []Sample{}
	}
}
