package pebblestore

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/store/memstore"
)

// The benchmarks here compare the store with the in-memory one in the
// same run: the x-memory metric of each pebble result is its ratio to
// the memory result before it, what durability costs a broker.

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// BenchmarkFanInQoS1 measures QoS 1 messages/s from 4 publishers, each
// keeping 100 PUBLISHes unacknowledged, to one online subscriber with a
// persistent session, through an in-process broker on the memory store
// and on this store with Sync durability: every PUBACK then waits for the
// fsync of the subscriber's queued copy. ns/op is per message.
func BenchmarkFanInQoS1(b *testing.B) {
	var memory float64
	b.Run("store=memory", func(b *testing.B) {
		memory, _ = fanIn(b, memstore.New())
	})
	b.Run("store=pebble-sync", func(b *testing.B) {
		st := mustOpen(b, b.TempDir(), Options{Durability: Sync()})
		syncs := fsyncs(st)
		rate, n := fanIn(b, st)
		b.ReportMetric(float64(n)/float64(fsyncs(st)-syncs), "msgs/fsync")
		if memory > 0 {
			b.ReportMetric(rate/memory, "x-memory")
		}
	})
}

// fanIn runs about b.N messages through a broker on st and returns how
// many per second, and how many.
func fanIn(b *testing.B, st broker.Store) (rate float64, n int) {
	const publishers, window = 4, 100
	br := brokertest.Start(b, broker.Options{Store: st, Logger: discard, SysInterval: -1, MaxQueuedMessages: 1 << 22})
	sub := benchDial(b, br.Addr, "fanin-sub", false)
	raw, _ := (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "fanin/#", QoS: packet.AtLeastOnce}}}).Encode(nil, packet.V311)
	if _, err := sub.Write(raw); err != nil {
		b.Fatal(err)
	}
	r := packet.NewReader(sub, 64<<10)
	r.Version = packet.V311
	if h, _, err := r.ReadFrame(); err != nil || h.Type != packet.SUBACK {
		b.Fatalf("SUBACK: %v %v", h.Type, err)
	}
	perPub := max(1, b.N/publishers)
	want := perPub * publishers
	received := make(chan error, 1)
	go func() { received <- receiveQoS1(sub, r, want) }()
	payload := make([]byte, 64)
	b.ResetTimer()
	var pubs sync.WaitGroup
	for i := range publishers {
		c := benchDial(b, br.Addr, fmt.Sprint("fanin-pub-", i), true)
		pubs.Go(func() {
			if err := publishQoS1(c, fmt.Sprint("fanin/", i), payload, perPub, window); err != nil {
				b.Error(err)
			}
		})
	}
	if err := <-received; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	pubs.Wait()
	rate = float64(want) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "msgs/s")
	return rate, want
}

// benchDial connects a 3.1.1 client; Clean Session 0 makes its session
// persistent.
func benchDial(b *testing.B, addr, id string, clean bool) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	raw, _ := (&packet.Connect{Version: packet.V311, ClientID: id, CleanStart: clean}).Encode(nil, packet.V311)
	if _, err := c.Write(raw); err != nil {
		b.Fatal(err)
	}
	var ack [4]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		b.Fatalf("CONNACK % x: %v", ack, err)
	}
	return c
}

// receiveQoS1 reads n PUBLISHes, acknowledging each, the acknowledgements
// written in batches whenever the reader has nothing more buffered.
func receiveQoS1(c net.Conn, r *packet.Reader, n int) error {
	w := bufio.NewWriterSize(c, 16<<10)
	c.SetReadDeadline(time.Now().Add(5 * time.Minute))
	for got := 0; got < n; {
		h, body, err := r.ReadFrame()
		if err != nil {
			return fmt.Errorf("subscriber: %v after %d of %d", err, got, n)
		}
		if h.Type != packet.PUBLISH {
			continue
		}
		got++
		at := 2 + (int(body[0])<<8 | int(body[1]))
		w.Write([]byte{0x40, 2, body[at], body[at+1]})
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	return w.Flush()
}

// publishQoS1 sends n QoS 1 PUBLISHes, keeping at most window of them
// unacknowledged.
func publishQoS1(c net.Conn, topic string, payload []byte, n, window int) error {
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	acked := make(chan error, 1)
	go func() {
		r := packet.NewReader(c, 16<<10)
		for range n {
			if _, _, err := r.ReadFrame(); err != nil {
				acked <- fmt.Errorf("publisher: %v", err)
				return
			}
			credits <- struct{}{}
		}
		acked <- nil
	}()
	w := bufio.NewWriterSize(c, 16<<10)
	p := &packet.Publish{Topic: topic, QoS: packet.AtLeastOnce, Payload: payload}
	var buf []byte
	for i := range n {
		if len(credits) == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		<-credits
		p.PacketID = uint16(i%60000 + 1)
		buf, _ = p.Encode(buf[:0], packet.V311)
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return <-acked
}

// BenchmarkRecovery measures a restart: opening the store and broker.New,
// which loads everything and rebuilds the retained index, the
// subscription tree and the sessions, from a store holding 1,000,000
// retained messages, or 100,000 persistent sessions each with a
// subscription and 3 queued messages. The memory store, filled the same
// way, gives the cost of the rebuild alone; ns/op is one recovery.
// Filling takes longer than recovering, so these run only when -bench
// names them: -bench Recovery -benchtime 1x.
func BenchmarkRecovery(b *testing.B) {
	if !strings.Contains(flag.Lookup("test.bench").Value.String(), "Recovery") {
		b.Skip("fills a store with a million records: run with -bench Recovery")
	}
	for _, c := range []struct {
		name string
		fill func(*testing.B, broker.Store)
	}{
		{"retained=1M", fillRetained},
		{"sessions=100k", fillSessions},
	} {
		var memory time.Duration
		b.Run(c.name+"/store=memory", func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				st := memstore.New()
				c.fill(b, st)
				b.StartTimer()
				srv := newServer(b, st)
				b.StopTimer()
				shutdown(b, srv)
			}
			memory = b.Elapsed() / time.Duration(b.N)
		})
		b.Run(c.name+"/store=pebble", func(b *testing.B) {
			b.StopTimer()
			dir := b.TempDir()
			st := mustOpen(b, dir, Options{Durability: None()})
			c.fill(b, st)
			if err := st.Close(); err != nil {
				b.Fatal(err)
			}
			for range b.N {
				b.StartTimer()
				srv := newServer(b, mustOpen(b, dir, Options{}))
				b.StopTimer()
				shutdown(b, srv)
			}
			if memory > 0 {
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/memory.Seconds(), "x-memory")
			}
		})
	}
}

func newServer(b *testing.B, st broker.Store) *broker.Server {
	srv, err := broker.New(broker.Options{Store: st, Logger: discard, SysInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

func shutdown(b *testing.B, srv *broker.Server) {
	if err := srv.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// applyAll applies ops in batches of about a thousand and waits for the
// last.
func applyAll(b *testing.B, st broker.Store, n int, op func(i int) []broker.Op) {
	done := make(chan error, 1)
	var ops []broker.Op
	for i := range n {
		ops = append(ops, op(i)...)
		if len(ops) >= 1000 || i == n-1 {
			last := i == n-1
			st.Apply(ops, func(err error) {
				if last {
					done <- err
				}
			})
			ops = nil
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// fillRetained stores 1,000,000 retained messages with 64-byte payloads
// on topics shaped as devices report state.
func fillRetained(b *testing.B, st broker.Store) {
	payload := make([]byte, 64)
	applyAll(b, st, 1_000_000, func(i int) []broker.Op {
		return []broker.Op{{Kind: broker.OpRetain, Msg: &broker.Message{
			Topic: fmt.Sprintf("site/%03d/building/%02d/device/%07d/state", i%1000, i/1000%20, i), Payload: payload, QoS: 1, Retain: true,
		}}}
	})
}

// fillSessions stores 100,000 offline persistent sessions, each
// subscribed to its own commands and with 3 of them queued.
func fillSessions(b *testing.B, st broker.Store) {
	payload := make([]byte, 64)
	now := time.Now()
	applyAll(b, st, 100_000, func(i int) []broker.Op {
		id := fmt.Sprintf("device-%07d", i)
		ops := []broker.Op{
			{Kind: broker.OpSession, ClientID: id, Session: &broker.SessionRecord{
				ClientID: id, Version: packet.V5, Expiry: 24 * time.Hour, DisconnectedAt: now,
			}},
			{Kind: broker.OpSubscribe, ClientID: id, Sub: broker.Subscription{Subscription: packet.Subscription{
				Filter: "devices/" + id + "/commands/#", QoS: packet.AtLeastOnce,
			}}},
		}
		for seq := uint64(1); seq <= 3; seq++ {
			ops = append(ops, broker.Op{Kind: broker.OpEnqueue, ClientID: id, Seq: seq, Delivery: broker.Delivery{
				Seq: seq, QoS: packet.AtLeastOnce, Msg: &broker.Message{Topic: "devices/" + id + "/commands/set", Payload: payload, QoS: 1},
			}})
		}
		return ops
	})
}
