// Command idlemem measures the broker's memory per idle connection: it runs
// a broker in a child process, opens N connections that each CONNECT and
// SUBSCRIBE once, and reports the growth of the broker's resident memory
// divided by N, with the Go runtime's own view (heap, stacks, goroutines).
// Run it once per read-side design to compare them:
//
//	go run ./bench/idlemem -n 10000 -reads poller
//	go run ./bench/idlemem -n 10000 -reads goroutines
//
// The load generator and the broker are separate processes, so each stays
// under the per-process file limit and the RSS is the broker's alone.
// Past 20,000 connections it spreads them over several loopback source
// addresses, each of which has about 28,000 ephemeral ports.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/packet"
)

func main() {
	n := flag.Int("n", 10000, "connections to open")
	reads := flag.String("reads", "poller", "read side: poller or goroutines")
	role := flag.String("role", "", "internal: run as the measured broker")
	heapProfile := flag.String("heapprofile", "", "write the broker's heap profile, with the connections open, to this file")
	flag.Parse()
	if *role == "broker" {
		runBroker(*reads == "goroutines", *heapProfile)
		return
	}
	if err := measure(*n, *reads, *heapProfile); err != nil {
		log.Fatal(err)
	}
}

// runBroker serves on a loopback port and answers commands on stdin:
// each line collects garbage, returns memory to the OS, prints the
// runtime's figures and, if asked, writes a heap profile.
func runBroker(goroutines bool, heapProfile string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := broker.New(broker.Options{
		Logger:                 slog.New(slog.NewTextHandler(io.Discard, nil)),
		GoroutinePerConnection: goroutines,
		SysInterval:            -1,
	})
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l, broker.Listener{AllowAnonymous: true})
	fmt.Println(l.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if heapProfile != "" {
			if f, err := os.Create(heapProfile); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		fmt.Printf("%d %d %d\n", ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine())
	}
}

type snapshot struct {
	rss, heap, stack, goroutines int
}

func measure(n int, reads, heapProfile string) error {
	child := exec.Command(os.Args[0], "-role=broker", "-reads="+reads, "-heapprofile="+heapProfile)
	child.Stderr = os.Stderr
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		return err
	}
	defer child.Process.Kill()
	out := bufio.NewScanner(stdout)
	if !out.Scan() {
		return fmt.Errorf("broker did not start")
	}
	addr := out.Text()
	snap := func() (snapshot, error) {
		fmt.Fprintln(stdin, "stats")
		if !out.Scan() {
			return snapshot{}, fmt.Errorf("broker stopped answering")
		}
		var s snapshot
		fmt.Sscan(out.Text(), &s.heap, &s.stack, &s.goroutines)
		time.Sleep(200 * time.Millisecond) // let the kernel account the freed pages
		rss, err := rssOf(child.Process.Pid)
		s.rss = rss
		return s, err
	}
	before, err := snap()
	if err != nil {
		return err
	}
	start := time.Now()
	conns := make([]net.Conn, 0, n)
	for i := range n {
		c, err := open(addr, i)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns = append(conns, c)
	}
	opened := time.Since(start)
	time.Sleep(500 * time.Millisecond) // past the read side's linger
	after, err := snap()
	if err != nil {
		return err
	}
	per := func(a, b int) float64 { return float64(b-a) / float64(n) }
	fmt.Printf("reads=%s connections=%d opened in %v\n", reads, n, opened.Round(time.Millisecond))
	fmt.Printf("RSS        %8.0f KB -> %8.0f KB: %6.2f KB per connection\n", float64(before.rss)/1024, float64(after.rss)/1024, per(before.rss, after.rss)/1024)
	fmt.Printf("Go heap    %8.0f KB -> %8.0f KB: %6.2f KB per connection\n", float64(before.heap)/1024, float64(after.heap)/1024, per(before.heap, after.heap)/1024)
	fmt.Printf("stacks     %8.0f KB -> %8.0f KB: %6.2f KB per connection\n", float64(before.stack)/1024, float64(after.stack)/1024, per(before.stack, after.stack)/1024)
	fmt.Printf("goroutines %8d    -> %8d\n", before.goroutines, after.goroutines)
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// open makes one idle client: CONNECT with a 60 s keep-alive, as real
// clients ask for, one SUBSCRIBE, then silence. Every 20,000 connections
// move to the next loopback source address.
func open(addr string, i int) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/20000))}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	id := "idle-" + strconv.Itoa(i)
	b, _ := (&packet.Connect{Version: packet.V311, ClientID: id, CleanStart: true, KeepAlive: 60}).Encode(nil, packet.V311)
	b, _ = (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "idle/" + id, QoS: 1}}}).Encode(b, packet.V311)
	if _, err := c.Write(b); err != nil {
		return nil, err
	}
	var ack [4 + 5]byte // CONNACK, then SUBACK with one code
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		return nil, err
	}
	if ack[0] != 0x20 || ack[3] != 0 || ack[4] != 0x90 {
		return nil, fmt.Errorf("unexpected answer % x", ack)
	}
	return c, nil
}

func rssOf(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.Atoi(f[1])
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}
