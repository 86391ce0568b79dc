package loadgen_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/internal/listener"
	"github.com/petrelmq/petrel/internal/loadgen"
	"github.com/petrelmq/petrel/internal/testcert"
	"github.com/petrelmq/petrel/packet"
)

// startBroker runs a broker that logs nothing and publishes no $SYS
// topics, so the load is all the test's.
func startBroker(t *testing.T, opts broker.Options) string {
	t.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.SysInterval = -1
	return brokertest.Start(t, opts).Addr
}

// serveOn runs a broker on l, as startBroker does.
func serveOn(t *testing.T, l net.Listener) {
	t.Helper()
	srv, err := broker.New(broker.Options{Logger: slog.New(slog.DiscardHandler), SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l, broker.Listener{Name: "test", AllowAnonymous: true}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
	})
}

func run(t *testing.T, cfg loadgen.Config) *loadgen.Report {
	t.Helper()
	rep, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%s: %v", cfg.Scenario, err)
	}
	if t.Failed() || testing.Verbose() {
		var b strings.Builder
		rep.WriteText(&b)
		t.Log("\n" + b.String())
	}
	return rep
}

// checkComplete checks a run in which every message should arrive once:
// the totals add up to what was sent times the deliveries each message
// calls for.
func checkComplete(t *testing.T, rep *loadgen.Report, fan int64) {
	t.Helper()
	if len(rep.Failures) > 0 || rep.Errors > 0 {
		t.Errorf("failures %q, errors %q", rep.Failures, rep.ErrorSamples)
	}
	if rep.Sent == 0 || rep.Expected != rep.Sent*fan || rep.Received != rep.Expected || rep.Lost != 0 || rep.Duplicates != 0 {
		t.Errorf("sent %d, expected %d, received %d, lost %d, duplicates %d; want %d sent %d times over, all received once",
			rep.Sent, rep.Expected, rep.Received, rep.Lost, rep.Duplicates, rep.Sent, fan)
	}
	var byQoS int64
	for _, q := range rep.ByQoS {
		byQoS += q.Received
	}
	if byQoS != rep.Received {
		t.Errorf("the QoS rows add up to %d received, the total says %d", byQoS, rep.Received)
	}
	if rep.ReceivedSeconds <= 0 || rep.ReceivedSeconds > rep.Elapsed || math.Abs(rep.ReceivedPerSecond*rep.ReceivedSeconds-float64(rep.Received)) > 1 {
		t.Errorf("received %d in %.3f s of %.3f, %.0f a second: want the rate over the time to the last delivery",
			rep.Received, rep.ReceivedSeconds, rep.Elapsed, rep.ReceivedPerSecond)
	}
	if rep.Latency == nil || int64(rep.Latency.Count) != rep.Received+rep.Unexpected {
		t.Errorf("latency %+v, want a sample per message received", rep.Latency)
	} else if rep.Latency.P50 <= 0 || rep.Latency.P50 > rep.Latency.P99 || rep.Latency.P99 > rep.Latency.Max {
		t.Errorf("latency percentiles out of order: %+v", rep.Latency)
	}
}

func TestScenarios(t *testing.T) {
	addr := startBroker(t, broker.Options{})
	for _, c := range []struct {
		name string
		cfg  loadgen.Config
		fan  int64
	}{
		{"fanin qos1 v3.1.1", loadgen.Config{Scenario: loadgen.FanIn, QoS: []packet.QoS{1}, Count: 300}, 1},
		{"fanin qos0,1,2 v5", loadgen.Config{Scenario: loadgen.FanIn, QoS: []packet.QoS{0, 1, 2}, Count: 300, Rate: 5000, Version: packet.V5}, 1},
		{"fanout qos2 v5", loadgen.Config{Scenario: loadgen.FanOut, Subs: 4, QoS: []packet.QoS{2}, Count: 300, Version: packet.V5}, 4},
		{"p2p qos1 v5", loadgen.Config{Scenario: loadgen.P2P, Clients: 3, QoS: []packet.QoS{1}, Count: 300, Version: packet.V5, Inflight: 8}, 1},
		{"shared qos2 v3.1.1", loadgen.Config{Scenario: loadgen.Shared, Pubs: 4, Subs: 3, QoS: []packet.QoS{2}, Count: 300}, 1},
		{"shared qos1 v5", loadgen.Config{Scenario: loadgen.Shared, Pubs: 2, Subs: 2, QoS: []packet.QoS{1}, Count: 300, Version: packet.V5}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Addr = addr
			rep := run(t, c.cfg)
			checkComplete(t, rep, c.fan)
			if want := int64(rep.Publishers) * 300; rep.Sent != want {
				t.Errorf("sent %d, want %d publishers × 300", rep.Sent, want)
			}
			var acked int64
			for i := range rep.Publishers {
				if c.cfg.QoS[i%len(c.cfg.QoS)] > 0 {
					acked += 300
				}
			}
			if rep.Acknowledged != acked || rep.AckLatency == nil || int64(rep.AckLatency.Count) != acked {
				t.Errorf("acknowledged %d (ack latency %+v), want %d", rep.Acknowledged, rep.AckLatency, acked)
			}
			if len(rep.ByQoS) != len(c.cfg.QoS) {
				t.Errorf("rows for QoS %+v, want one for each of %v", rep.ByQoS, c.cfg.QoS)
			}
		})
	}
}

// TestPubAndSub runs the halves of a test in separate runs, as in two
// processes: the subscribers count from the sequence numbers they see.
func TestPubAndSub(t *testing.T) {
	addr := startBroker(t, broker.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pubRep *loadgen.Report
	var pubErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		pubRep, pubErr = loadgen.Run(ctx, loadgen.Config{
			Target: loadgen.Target{Addr: addr}, Scenario: loadgen.Pub, Pubs: 2,
			Topic: "bench/pair/%i", QoS: []packet.QoS{1}, Rate: 4000, Duration: time.Minute,
		})
	})
	subRep := run(t, loadgen.Config{
		Target: loadgen.Target{Addr: addr}, Scenario: loadgen.Sub, Subs: 2,
		SubTopic: "bench/pair/+", QoS: []packet.QoS{1}, Count: 500,
	})
	cancel()
	wg.Wait()
	if pubErr != nil {
		t.Fatal(pubErr)
	}
	if len(pubRep.Failures) > 0 || pubRep.Sent == 0 || pubRep.Acknowledged != pubRep.Sent {
		t.Errorf("publishers: failures %q, sent %d, acknowledged %d", pubRep.Failures, pubRep.Sent, pubRep.Acknowledged)
	}
	if !subRep.Inferred || len(subRep.Failures) > 0 || subRep.Received < 1000 || subRep.Lost != 0 || subRep.Duplicates != 0 {
		t.Errorf("subscribers: inferred %t, failures %q, received %d, lost %d, duplicates %d; want at least 500 each, none lost",
			subRep.Inferred, subRep.Failures, subRep.Received, subRep.Lost, subRep.Duplicates)
	}
	if subRep.Latency == nil || int64(subRep.Latency.Count) != subRep.Received {
		t.Errorf("latency %+v, want one sample per message", subRep.Latency)
	}
}

func TestConn(t *testing.T) {
	addr := startBroker(t, broker.Options{})
	rep := run(t, loadgen.Config{Target: loadgen.Target{Addr: addr}, Scenario: loadgen.Conn, Clients: 40, Duration: 100 * time.Millisecond, KeepAlive: time.Second})
	c := rep.Connections
	if c == nil || c.Established != 40 || c.Failed != 0 || len(rep.Failures) > 0 {
		t.Fatalf("connections %+v, failures %q; want 40 established", c, rep.Failures)
	}
	if rep.ConnectLatency == nil || rep.ConnectLatency.Count != 40 {
		t.Errorf("connect latency %+v, want 40 samples", rep.ConnectLatency)
	}

	// Nothing listens on a closed port: every connection fails, and the
	// report says so.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	rep = run(t, loadgen.Config{Target: loadgen.Target{Addr: closed}, Scenario: loadgen.Conn, Clients: 5, Duration: time.Millisecond})
	if rep.Connections.Failed != 5 || len(rep.Failures) != 1 || !strings.Contains(rep.Failures[0], "5 of 5 connections failed") {
		t.Errorf("against a closed port: %+v, failures %q", rep.Connections, rep.Failures)
	}
}

// TestConnSubscribes checks each idle connection subscribes once, to its
// own filter, before it counts as established, and that a refused
// subscription counts as a failed connection.
func TestConnSubscribes(t *testing.T) {
	var mu sync.Mutex
	filters := map[string]packet.QoS{}
	addr := fakeServer(t, func(c net.Conn, r *packet.Reader) {
		for {
			p, err := r.ReadPacket()
			if err != nil || p.Type() == packet.DISCONNECT {
				return
			}
			if s, ok := p.(*packet.Subscribe); ok {
				f := s.Subscriptions[0]
				mu.Lock()
				filters[f.Filter] = f.QoS
				mu.Unlock()
				code := byte(f.QoS)
				if f.Filter == "idle/3" {
					code = byte(packet.UnspecifiedError)
				}
				c.Write([]byte{byte(packet.SUBACK) << 4, 3, byte(s.PacketID >> 8), byte(s.PacketID), code})
			}
		}
	})
	qos := packet.QoS(1)
	rep := run(t, loadgen.Config{
		Target: loadgen.Target{Addr: addr}, Scenario: loadgen.Conn, Clients: 5,
		SubTopic: "idle/%i", SubQoS: &qos, Duration: time.Millisecond,
	})
	if c := rep.Connections; c.Established != 4 || c.Failed != 1 || len(rep.Failures) != 1 || !strings.Contains(rep.Failures[0], `"idle/3" refused`) {
		t.Errorf("connections %+v, failures %q; want 4 established and idle/3's refusal", c, rep.Failures)
	}
	if rep.IdleFilter != "idle/%i" {
		t.Errorf("the report says the connections subscribed to %q", rep.IdleFilter)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range 5 {
		if q, ok := filters["idle/"+strconv.Itoa(i)]; !ok || q != 1 {
			t.Errorf("subscriptions %v, want idle/0 to idle/4 at QoS 1", filters)
			break
		}
	}
}

// TestIdleClientAcknowledges checks an idle client acknowledges what
// arrives on its subscription, at QoS 1 and 2, rather than failing.
func TestIdleClientAcknowledges(t *testing.T) {
	acked := make(chan []packet.Type, 1)
	addr := fakeServer(t, func(c net.Conn, r *packet.Reader) {
		p, err := r.ReadPacket()
		s, ok := p.(*packet.Subscribe)
		if err != nil || !ok {
			return
		}
		c.Write([]byte{byte(packet.SUBACK) << 4, 3, byte(s.PacketID >> 8), byte(s.PacketID), 2})
		for _, m := range []*packet.Publish{{QoS: 1, PacketID: 9, Topic: "idle/0"}, {QoS: 2, PacketID: 10, Topic: "idle/0"}} {
			b, _ := m.Encode(nil, packet.V311)
			c.Write(b)
		}
		var got []packet.Type
		for {
			p, err := r.ReadPacket()
			if err != nil || p.Type() == packet.DISCONNECT {
				acked <- got
				return
			}
			got = append(got, p.Type())
			if p.Type() == packet.PUBREC {
				c.Write([]byte{byte(packet.PUBREL)<<4 | 2, 2, 0, 10})
			}
		}
	})
	qos := packet.QoS(2)
	rep := run(t, loadgen.Config{Target: loadgen.Target{Addr: addr}, Scenario: loadgen.Conn, Clients: 1, SubTopic: "idle/%i", SubQoS: &qos, Duration: 200 * time.Millisecond})
	if len(rep.Failures) > 0 {
		t.Errorf("failures %q", rep.Failures)
	}
	if got := <-acked; len(got) != 3 || got[0] != packet.PUBACK || got[1] != packet.PUBREC || got[2] != packet.PUBCOMP {
		t.Errorf("the server read %v, want PUBACK, PUBREC and PUBCOMP", got)
	}
}

// TestReceivedRate checks the rate of deliveries is over the time they
// took, not over the drain's wait for messages that never come: the
// server here passes on the first message only.
func TestReceivedRate(t *testing.T) {
	subscribed := make(chan net.Conn, 1)
	var first sync.Once
	addr := fakeServer(t, func(c net.Conn, r *packet.Reader) {
		for {
			p, err := r.ReadPacket()
			if err != nil || p.Type() == packet.DISCONNECT {
				return
			}
			switch p := p.(type) {
			case *packet.Subscribe:
				c.Write([]byte{byte(packet.SUBACK) << 4, 3, byte(p.PacketID >> 8), byte(p.PacketID), 0})
				subscribed <- c
			case *packet.Publish:
				first.Do(func() {
					b, _ := p.Encode(nil, packet.V311)
					(<-subscribed).Write(b)
				})
			}
		}
	})
	rep := run(t, loadgen.Config{Target: loadgen.Target{Addr: addr}, Scenario: loadgen.FanIn, Pubs: 1, Duration: 200 * time.Millisecond})
	if rep.Received != 1 || rep.ReceivedSeconds <= 0 || rep.ReceivedSeconds > rep.Seconds || rep.Elapsed-rep.ReceivedSeconds < 0.9 {
		t.Errorf("received %d, the last %.3f s after publishing began, which took %.3f s, the drain ending at %.3f s; want one early delivery and a second's wait after",
			rep.Received, rep.ReceivedSeconds, rep.Seconds, rep.Elapsed)
	}
	if want := 1 / rep.ReceivedSeconds; math.Abs(rep.ReceivedPerSecond-want) > want/1e6 {
		t.Errorf("%.1f received a second, want %.1f", rep.ReceivedPerSecond, want)
	}
}

// TestLossFails overloads a broker whose queues hold one message, so it
// drops QoS 1 messages, and checks the run fails and says so.
func TestLossFails(t *testing.T) {
	addr := startBroker(t, broker.Options{MaxQueuedMessages: 1, MaxInflight: 1})
	rep := run(t, loadgen.Config{Target: loadgen.Target{Addr: addr}, Scenario: loadgen.FanIn, QoS: []packet.QoS{1}, Count: 2000, Drain: 300 * time.Millisecond})
	if rep.Lost == 0 || rep.Received+rep.Lost != rep.Expected {
		t.Fatalf("received %d, lost %d of %d; want a loss that accounts for every message", rep.Received, rep.Lost, rep.Expected)
	}
	if len(rep.Failures) == 0 || !strings.HasPrefix(rep.Failures[0], "lost ") || !strings.Contains(rep.Failures[0], "QoS 1") {
		t.Errorf("failures %q, want the QoS 1 loss first", rep.Failures)
	}
}

func TestTLSAndWebSocket(t *testing.T) {
	ca := testcert.NewCA(t, "bench CA")
	serverTLS := &tls.Config{Certificates: []tls.Certificate{ca.Server(t).TLS}}
	clientTLS := &tls.Config{ServerName: "127.0.0.1", RootCAs: ca.Pool()}
	for _, c := range []struct {
		transport string
		wrap      func(net.Listener) net.Listener
		target    loadgen.Target
	}{
		{"tls", func(l net.Listener) net.Listener { return tls.NewListener(l, serverTLS) }, loadgen.Target{TLS: clientTLS}},
		{"ws", func(l net.Listener) net.Listener { return listener.WebSocket(l, listener.WebSocketConfig{}) }, loadgen.Target{WebSocketPath: "/mqtt"}},
		{"wss", func(l net.Listener) net.Listener {
			return listener.WebSocket(tls.NewListener(l, serverTLS), listener.WebSocketConfig{Path: "/bench"})
		}, loadgen.Target{TLS: clientTLS, WebSocketPath: "/bench"}},
	} {
		t.Run(c.transport, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			c.target.Addr = l.Addr().String()
			serveOn(t, c.wrap(l))
			// Large payloads cross WebSocket frames and TLS records.
			rep := run(t, loadgen.Config{Target: c.target, Scenario: loadgen.FanOut, Subs: 2, QoS: []packet.QoS{1}, Count: 200, Size: 70_000})
			checkComplete(t, rep, 2)
			if rep.Transport != c.transport {
				t.Errorf("the report says transport %q, want %q", rep.Transport, c.transport)
			}
		})
	}
}

// fakeServer accepts every CONNECT, then hands the connection to after,
// and returns its address.
func fakeServer(t *testing.T, after func(net.Conn, *packet.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := packet.NewReader(c, 512)
				r.Version = packet.V311
				if p, err := r.ReadPacket(); err != nil || p.Type() != packet.CONNECT {
					return
				}
				c.Write([]byte{byte(packet.CONNACK) << 4, 2, 0, 0})
				after(c, r)
			}()
		}
	}()
	return l.Addr().String()
}

// TestSourceAddrs checks connections take turns among the source
// addresses.
func TestSourceAddrs(t *testing.T) {
	var mu sync.Mutex
	from := map[string]int{}
	addr := fakeServer(t, func(c net.Conn, r *packet.Reader) {
		mu.Lock()
		from[c.RemoteAddr().(*net.TCPAddr).IP.String()]++
		mu.Unlock()
		for {
			if p, err := r.ReadPacket(); err != nil || p.Type() == packet.DISCONNECT {
				return
			}
		}
	})
	rep := run(t, loadgen.Config{
		Target:   loadgen.Target{Addr: addr, SourceAddrs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("127.0.0.2")}},
		Scenario: loadgen.Conn, Clients: 6, Duration: time.Millisecond,
	})
	if rep.Connections.Established != 6 {
		t.Fatalf("connections %+v, failures %q", rep.Connections, rep.Failures)
	}
	mu.Lock()
	defer mu.Unlock()
	if from["127.0.0.1"] != 3 || from["127.0.0.2"] != 3 {
		t.Errorf("connections came from %v, want 3 from each source address", from)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  loadgen.Config
		want string
	}{
		{loadgen.Config{Scenario: "flood"}, "unknown scenario"},
		{loadgen.Config{Scenario: loadgen.FanIn, Clients: 3}, "not of clients"},
		{loadgen.Config{Scenario: loadgen.P2P, Pubs: 3}, "not of publishers"},
		{loadgen.Config{Scenario: loadgen.Sub, Pubs: 3}, "no publishers"},
		{loadgen.Config{Scenario: loadgen.FanOut, Size: 10}, "at least 24 bytes"},
		{loadgen.Config{Scenario: loadgen.Pub, Topic: "bench/+"}, "wildcards"},
		{loadgen.Config{Scenario: loadgen.FanIn, SharedGroup: "g"}, "no shared subscription"},
		{loadgen.Config{Scenario: loadgen.FanIn, QoS: []packet.QoS{3}}, "QoS 3"},
		{loadgen.Config{Scenario: loadgen.Conn, Count: 5}, "give it a duration"},
	} {
		c.cfg.Addr = "127.0.0.1:1"
		_, err := loadgen.Run(context.Background(), c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one that says %q", c.cfg, err, c.want)
		}
	}
	_, err := loadgen.Run(context.Background(), loadgen.Config{Scenario: loadgen.FanOut, Target: loadgen.Target{Addr: "127.0.0.1:1"}})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("against a closed port, got %v; want connection refused", err)
	}
}

// TestLeftoverSession runs p2p after a fanin whose persistent sessions
// keep a wildcard subscription: the report counts the deliveries that
// subscription brings as unexpected, apart from the accounting.
func TestLeftoverSession(t *testing.T) {
	addr := startBroker(t, broker.Options{})
	target := loadgen.Target{Addr: addr}
	run(t, loadgen.Config{Target: target, Scenario: loadgen.FanIn, Count: 10, Persistent: true, Version: packet.V5, ClientIDPrefix: "leftover-"})
	rep := run(t, loadgen.Config{Target: target, Scenario: loadgen.P2P, Clients: 3, QoS: []packet.QoS{1}, Count: 100, Persistent: true, Version: packet.V5, ClientIDPrefix: "leftover-"})
	checkComplete(t, rep, 1)
	if rep.Unexpected != 200 {
		t.Errorf("unexpected deliveries %d, want 200: subscriber 0's old bench/+ brings it publishers 1 and 2", rep.Unexpected)
	}
}

// TestStalledServer checks a run ends, and says why, when the server
// stops reading: the publisher's writes block until the drain time is up.
func TestStalledServer(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	addr := fakeServer(t, func(net.Conn, *packet.Reader) { <-stop })
	rep := run(t, loadgen.Config{Target: loadgen.Target{Addr: addr}, Scenario: loadgen.Pub, Size: 1000, Duration: 100 * time.Millisecond, Drain: 200 * time.Millisecond})
	if rep.Errors != 1 || !strings.Contains(rep.ErrorSamples[0], "the server stopped reading") || len(rep.Failures) != 1 {
		t.Errorf("errors %q, failures %q; want the stalled write", rep.ErrorSamples, rep.Failures)
	}
}

// TestServerClosesFirst checks a client waits, after its DISCONNECT, for
// the server to close the connection, so TIME_WAIT stays on the server's
// side and repeated runs do not use up the source addresses' ports.
func TestServerClosesFirst(t *testing.T) {
	open := make(chan bool, 3)
	addr := fakeServer(t, func(c net.Conn, r *packet.Reader) {
		for {
			if p, err := r.ReadPacket(); err != nil || p.Type() == packet.DISCONNECT {
				break
			}
		}
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		open <- errors.As(err, &ne) && ne.Timeout()
	})
	run(t, loadgen.Config{Target: loadgen.Target{Addr: addr}, Scenario: loadgen.Conn, Clients: 3, Duration: time.Millisecond})
	for range 3 {
		if !<-open {
			t.Fatal("a client closed its end after DISCONNECT before the server did")
		}
	}
}

// TestConnHoldsState checks that conn makes the state it is asked for
// before it says it is ready, and holds it: every filter of every
// connection subscribed, and every retained message stored.
func TestConnHoldsState(t *testing.T) {
	b := brokertest.Start(t, broker.Options{Logger: slog.New(slog.DiscardHandler), SysInterval: -1})
	const clients, filters, retained = 3, 150, 200 // 150 filters take two SUBSCRIBEs
	var ready broker.Stats
	rep := run(t, loadgen.Config{Target: loadgen.Target{Addr: b.Addr}, Scenario: loadgen.Conn, Clients: clients,
		SubTopic: "state/%i/%j", Filters: filters, Retained: retained, Duration: 100 * time.Millisecond,
		Ready: func() { ready = b.Server.Stats() }})
	if len(rep.Failures) > 0 {
		t.Fatalf("failures %q", rep.Failures)
	}
	if ready.Subscriptions != clients*filters || ready.Retained != retained {
		t.Errorf("when ready, the server held %d subscriptions and %d retained messages; want %d and %d",
			ready.Subscriptions, ready.Retained, clients*filters, retained)
	}
	for _, cfg := range []loadgen.Config{
		{Scenario: loadgen.Conn, SubTopic: "state/%i", Filters: 2},
		{Scenario: loadgen.Conn, Retained: 2, Topic: "state/one"},
		{Scenario: loadgen.P2P, Retained: 2},
	} {
		cfg.Addr = b.Addr
		if err := cfg.Check(); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}
