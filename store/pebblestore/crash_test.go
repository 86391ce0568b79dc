package pebblestore

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
)

// The kill -9 test re-runs its own binary as the child that writes; these
// variables tell the child where and from which batch to start.
const (
	crashDirEnv   = "PEBBLESTORE_CRASH_DIR"
	crashStartEnv = "PEBBLESTORE_CRASH_START"
	// crashWindow is how many deliveries the child keeps queued: each
	// batch forgets the one crashWindow batches back, so deletes are
	// checked along with writes.
	crashWindow = 100
	// crashKills is how many times one run kills the child.
	crashKills = 6
)

// crashBatch is batch i of the child: a retained message that marks it
// as written, and a queued delivery that moves the window on.
func crashBatch(i int) []broker.Op {
	ops := []broker.Op{
		{Kind: broker.OpRetain, Msg: &broker.Message{Topic: fmt.Sprintf("t/%08d", i), Payload: make([]byte, 200)}},
		{Kind: broker.OpEnqueue, ClientID: "c", Seq: uint64(i), Delivery: broker.Delivery{
			Seq: uint64(i), QoS: 1, Msg: &broker.Message{Topic: "q", Payload: []byte(strconv.Itoa(i))},
		}},
	}
	if i >= crashWindow {
		ops = append(ops, broker.Op{Kind: broker.OpForget, ClientID: "c", Seq: uint64(i - crashWindow)})
	}
	return ops
}

// crashChild applies batches as fast as the store takes them, up to 256
// unacknowledged, and prints each batch's number once its done runs,
// until it is killed.
func crashChild(dir string, start int) {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	window := make(chan struct{}, 256)
	for i := start; ; i++ {
		window <- struct{}{}
		s.Apply(crashBatch(i), func(err error) {
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			// One write per line, so the parent reads whole lines.
			os.Stdout.WriteString(strconv.Itoa(i) + "\n")
			<-window
		})
	}
}

// TestKill9LosesNothingAcknowledged kills a writing process at random
// points and checks, after each kill, that every batch whose done ran is
// in the store, and that what is there is a whole prefix of the batches
// in Apply order: no batch half written, none skipped.
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		start, _ := strconv.Atoi(os.Getenv(crashStartEnv))
		crashChild(dir, start)
		return
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	next, checked := 0, 0
	for kill := range crashKills {
		killAfter := 1 + rng.IntN(1500)
		acked := runAndKill(t, dir, next, killAfter)
		s := mustOpen(t, dir, Options{})
		snap, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		written := len(snap.Retained)
		for i, m := range snap.Retained {
			if want := fmt.Sprintf("t/%08d", i); m.Topic != want {
				t.Fatalf("kill %d: retained message %d is %s, want %s: batches are missing", kill, i, m.Topic, want)
			}
		}
		if acked < 0 || acked >= written {
			t.Fatalf("kill %d: batch %d was acknowledged but only %d batches are stored", kill, acked, written)
		}
		var queued []uint64
		for _, ss := range snap.Sessions {
			for _, d := range ss.Queued {
				queued = append(queued, d.Seq)
			}
		}
		if first := max(0, written-crashWindow); len(queued) != written-first || len(queued) > 0 && queued[0] != uint64(first) {
			t.Fatalf("kill %d: %d batches stored, but the queue holds %v: a batch was written in part", kill, written, queued)
		}
		t.Logf("kill %d: %d batches acknowledged, all of them and %d more stored", kill, acked+1-next, written-acked-1)
		checked += acked + 1 - next
		next = written
	}
	t.Logf("%d acknowledged batches checked across %d kills", checked, crashKills)
}

// runAndKill runs the child from batch start, SIGKILLs it once it has
// printed killAfter acknowledgements, and returns the last batch it
// acknowledged (start-1 if none).
func runAndKill(t *testing.T, dir string, start, killAfter int) (acked int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9LosesNothingAcknowledged$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashStartEnv+"="+strconv.Itoa(start))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	acked = start - 1
	n := 0
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		i, err := strconv.Atoi(lines.Text())
		if err != nil || i != acked+1 {
			_ = cmd.Process.Kill()
			t.Fatalf("child acknowledged %q after %d: want batches in order", lines.Text(), acked)
		}
		acked = i
		if n++; n == killAfter {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
		// Lines already in the pipe are acknowledgements too.
	}
	if err := cmd.Wait(); err == nil || n < killAfter {
		t.Fatalf("child ended (%v) after %d acknowledgements, before it was killed", err, n)
	}
	return acked
}
