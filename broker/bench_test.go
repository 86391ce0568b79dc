package broker_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
)

// BenchmarkFanIn and BenchmarkFanOut push messages through a broker over
// loopback with clients that reuse pre-encoded packets, so the figures are
// the broker's: ns/op and allocs/op are per delivered message (client
// allocations are near zero and counted too).
func BenchmarkFanIn(b *testing.B) {
	benchModes(b, "4to1", 4, 1)
}

func BenchmarkFanOut(b *testing.B) {
	benchModes(b, "1to16", 1, 16)
}

func benchModes(b *testing.B, name string, pubs, subs int) {
	for _, qos := range []packet.QoS{0, 1} {
		for _, reads := range []string{"poller", "goroutines"} {
			b.Run(fmt.Sprintf("%s/qos%d/reads=%s", name, qos, reads), func(b *testing.B) {
				benchDelivery(b, pubs, subs, qos, reads == "goroutines", 0)
			})
		}
	}
}

// BenchmarkSlowConsumer measures fan-out to 8 subscribers at QoS 1 alone
// and beside a ninth subscriber that reads nothing, whose queue stays full
// under its overflow policy: compare the msgs/s of the two to see how much
// a stuck client costs the others.
func BenchmarkSlowConsumer(b *testing.B) {
	for _, stuck := range []int{0, 1} {
		b.Run(fmt.Sprintf("stuck=%d", stuck), func(b *testing.B) {
			benchDelivery(b, 1, 8, packet.AtLeastOnce, false, stuck)
		})
	}
}

// benchDelivery runs pubs publishers to subs subscribers, beside stuck
// subscribers that never read.
func benchDelivery(b *testing.B, pubs, subs int, qos packet.QoS, goroutines bool, stuck int) {
	perPub := max((b.N+subs-1)/subs/pubs, 1)
	delivered := runDelivery(b, pubs, subs, qos, goroutines, stuck, perPub, func() {
		b.ReportAllocs()
		b.ResetTimer()
	})
	b.StopTimer()
	b.ReportMetric(float64(delivered)/b.Elapsed().Seconds(), "msgs/s")
}

// runDelivery has pubs publishers send perPub messages each to subs
// subscribers, beside stuck subscribers that never read, and returns how
// many messages the subscribers received. start runs once everyone is
// connected and subscribed, just before the first message. With stuck
// subscribers the queues are bounded at 1000 messages; otherwise they are
// made large enough never to drop.
func runDelivery(tb testing.TB, pubs, subs int, qos packet.QoS, goroutines bool, stuck, perPub int, start func()) int {
	queue := 1 << 22
	if stuck > 0 {
		queue = 1000
	}
	br := brokertest.Start(tb, broker.Options{
		Logger:                 slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxQueuedMessages:      queue,
		SysInterval:            -1,
		GoroutinePerConnection: goroutines,
	})
	for i := range stuck {
		c := benchConnect(tb, br.Addr, fmt.Sprint("bstuck-", i))
		c.(*net.TCPConn).SetReadBuffer(4096)
		raw, _ := (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "bench/#", QoS: qos}}}).Encode(nil, packet.V311)
		c.Write(raw)
	}
	want := perPub * pubs
	var ready, done sync.WaitGroup
	for i := range subs {
		c := benchConnect(tb, br.Addr, fmt.Sprint("bsub-", i))
		raw, _ := (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "bench/#", QoS: qos}}}).Encode(nil, packet.V311)
		c.Write(raw)
		ready.Add(1)
		done.Add(1)
		go benchReceive(tb, c, want, &ready, &done)
	}
	ready.Wait()
	payload := make([]byte, 64)
	pubConns := make([]net.Conn, pubs)
	for i := range pubs {
		pubConns[i] = benchConnect(tb, br.Addr, fmt.Sprint("bpub-", i))
	}
	start()
	var pubDone sync.WaitGroup
	for i, c := range pubConns {
		pubDone.Add(1)
		go benchPublish(tb, c, fmt.Sprint("bench/", i), qos, payload, perPub, &pubDone)
	}
	done.Wait()
	pubDone.Wait()
	return want * subs
}

func benchConnect(b testing.TB, addr, id string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	raw, _ := (&packet.Connect{Version: packet.V311, ClientID: id, CleanStart: true}).Encode(nil, packet.V311)
	c.Write(raw)
	var ack [4]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		b.Fatalf("CONNACK % x: %v", ack, err)
	}
	return c
}

// benchReceive counts PUBLISHes, acknowledging QoS 1 ones in batches.
func benchReceive(b testing.TB, c net.Conn, want int, ready, done *sync.WaitGroup) {
	defer done.Done()
	r := packet.NewReader(c, 64<<10)
	r.Version = packet.V311
	w := bufio.NewWriterSize(c, 16<<10)
	got := 0
	subscribed := false
	c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	for got < want || !subscribed {
		h, body, err := r.ReadFrame()
		if err != nil {
			b.Errorf("subscriber: %v after %d of %d", err, got, want)
			if !subscribed {
				ready.Done()
			}
			return
		}
		switch h.Type {
		case packet.SUBACK:
			subscribed = true
			ready.Done()
		case packet.PUBLISH:
			got++
			if h.Flags&0x06 != 0 {
				at := 2 + (int(body[0])<<8 | int(body[1]))
				w.Write([]byte{0x40, 2, body[at], body[at+1]})
			}
			if r.Buffered() == 0 {
				w.Flush()
			}
		}
	}
	w.Flush()
}

// benchPublish sends n PUBLISHes, keeping at most 256 QoS 1 ones unacknowledged.
func benchPublish(b testing.TB, c net.Conn, topic string, qos packet.QoS, payload []byte, n int, wg *sync.WaitGroup) {
	defer wg.Done()
	const window = 256
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	acked := make(chan struct{})
	if qos > 0 {
		go func() {
			defer close(acked)
			r := packet.NewReader(c, 16<<10)
			for i := 0; i < n; i++ {
				if _, _, err := r.ReadFrame(); err != nil {
					b.Errorf("publisher: %v", err)
					return
				}
				credits <- struct{}{}
			}
		}()
	} else {
		close(acked)
	}
	w := bufio.NewWriterSize(c, 16<<10)
	p := &packet.Publish{Topic: topic, QoS: qos, Payload: payload}
	var buf []byte
	for i := 0; i < n; i++ {
		if qos > 0 {
			if len(credits) == 0 {
				w.Flush()
			}
			<-credits
			p.PacketID = uint16(i%60000 + 1)
		}
		buf, _ = p.Encode(buf[:0], packet.V311)
		w.Write(buf)
	}
	w.Flush()
	<-acked
}
