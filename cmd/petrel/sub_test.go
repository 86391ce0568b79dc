package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
)

// result is how a command ended.
type result struct {
	stdout, stderr string
	status         int
}

// runTool runs path with args and stdin to the end, within deadline.
func runTool(t *testing.T, stdin string, path string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %q still running after %s; stderr:\n%s", path, args, deadline, stderr.String())
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

func petrel(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runTool(t, stdin, binary, args...)
}

// subscriber is a subscribing process that has its SUBACK.
type subscriber struct {
	cmd  *exec.Cmd
	done chan result
}

// startSubscriber runs a subscriber and waits until it prints a line
// containing ready (pass -d for that), so what is published afterwards
// reaches it. mosquitto_sub prints its -d lines on standard output, each
// beginning "Client " but for "Subscribed (mid: 1): 0"; they are left out
// of the result's stdout.
func startSubscriber(t *testing.T, path, ready string, args ...string) *subscriber {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = cleanEnv()
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &subscriber{cmd: cmd, done: make(chan result, 1)}
	subscribed := make(chan struct{})
	var once sync.Once
	scan := func(r io.Reader, out *strings.Builder, wg *sync.WaitGroup) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, ready) {
				once.Do(func() { close(subscribed) })
			}
			if !strings.HasPrefix(line, "Client ") && !strings.HasPrefix(line, "Subscribed (mid: ") {
				out.WriteString(line + "\n")
			}
		}
	}
	go func() {
		var stdout, stderr strings.Builder
		var wg sync.WaitGroup
		wg.Add(2)
		go scan(stdoutPipe, &stdout, &wg)
		go scan(stderrPipe, &stderr, &wg)
		wg.Wait()
		cmd.Wait()
		s.done <- result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
	}()
	select {
	case <-subscribed:
	case r := <-s.done:
		t.Fatalf("%s exited (%d) before subscribing:\n%s%s", path, r.status, r.stdout, r.stderr)
	}
	return s
}

// wait returns how the subscriber ended.
func (s *subscriber) wait(t *testing.T) result {
	t.Helper()
	return <-s.done
}

// TestPubToSub publishes with petrel pub to petrel sub at every QoS and
// version, -l making one message per line of input.
func TestPubToSub(t *testing.T) {
	b := brokertest.Start(t, broker.Options{})
	host, port := splitAddr(t, b.Addr)
	for _, v := range []string{"311", "5", "mqttv31"} {
		for qos := range 3 {
			t.Run(fmt.Sprintf("%s/QoS%d", v, qos), func(t *testing.T) {
				topic := fmt.Sprintf("cli/%s/%d", v, qos)
				q := fmt.Sprint(qos)
				s := startSubscriber(t, binary, "received SUBACK", "sub", "-h", host, "-p", port, "-V", v, "-t", topic, "-q", q, "-C", "3", "-v", "-d")
				r := petrel(t, "one\ntwo\nthree\n", "pub", "-h", host, "-p", port, "-V", v, "-t", topic, "-q", q, "-l")
				if r.status != 0 {
					t.Fatalf("pub exited %d: %s", r.status, r.stderr)
				}
				got := s.wait(t)
				want := topic + " one\n" + topic + " two\n" + topic + " three\n"
				if got.status != 0 || got.stdout != want {
					t.Fatalf("sub exited %d printing\n%s\nwant\n%s\nstderr:\n%s", got.status, got.stdout, want, got.stderr)
				}
			})
		}
	}
}

// TestSubFormat checks -F, -N and -R on a retained message with 5.0
// properties set by pub's -D.
func TestSubFormat(t *testing.T) {
	b := brokertest.Start(t, broker.Options{})
	host, port := splitAddr(t, b.Addr)
	r := petrel(t, "", "pub", "-h", host, "-p", port, "-t", "fmt/a", "-m", `say "hi" <there>`, "-r", "-q", "1",
		"-D", "PUBLISH", "user-property", "k", "v", "-D", "PUBLISH", "content-type", "text/plain",
		"-D", "PUBLISH", "response-topic", "fmt/reply", "-D", "PUBLISH", "correlation-data", "c1",
		"-D", "PUBLISH", "message-expiry-interval", "300")
	if r.status != 0 {
		t.Fatalf("pub exited %d: %s", r.status, r.stderr)
	}
	sub := func(args ...string) string {
		t.Helper()
		r := petrel(t, "", append([]string{"sub", "-h", host, "-p", port, "-t", "fmt/#", "-C", "1", "-V", "5"}, args...)...)
		if r.status != 0 {
			t.Fatalf("sub %q exited %d: %s", args, r.status, r.stderr)
		}
		return r.stdout
	}
	for _, tc := range []struct {
		format string
		want   string // a regular expression for the whole output
	}{
		{`%t|%p|%q|%r|%l`, `fmt/a\|say "hi" <there>\|0\|1\|16\n`},
		{`%P|%C|%R|%D|%x`, `k:v\|text/plain\|fmt/reply\|c1\|` + fmt.Sprintf("%x", `say "hi" <there>`) + `\n`},
		{`%E %I\t%%`, `(300|29\d) \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}\t%\n`},
	} {
		if got := sub("-F", tc.format); !regexp.MustCompile(`^` + tc.want + `$`).MatchString(got) {
			t.Errorf("-F %q printed %q, want %q", tc.format, got, tc.want)
		}
	}
	var j struct {
		Tst, Topic, Payload string
		QoS                 int `json:"qos"`
		Retain, Payloadlen  int
		Properties          struct {
			UserProperties map[string]string `json:"user-properties"`
			ContentType    string            `json:"content-type"`
		}
	}
	if got := sub("-F", "%j"); json.Unmarshal([]byte(got), &j) != nil || j.Topic != "fmt/a" || j.Payload != `say "hi" <there>` ||
		j.Retain != 1 || j.Payloadlen != 16 || j.Properties.UserProperties["k"] != "v" || j.Properties.ContentType != "text/plain" || j.Tst == "" {
		t.Errorf("-F %%j printed %s, parsed as %+v", got, j)
	}
	if got := sub("-N"); got != `say "hi" <there>` {
		t.Errorf("-N printed %q", got)
	}
	if r := petrel(t, "", "sub", "-h", host, "-p", port, "-t", "fmt/#", "-R", "-W", "1"); r.status != timedOut || r.stdout != "" || r.stderr != "Timed out\n" {
		t.Errorf("-R -W 1: status %d, stdout %q, stderr %q; want 27 and no message printed", r.status, r.stdout, r.stderr)
	}
}

func splitAddr(t *testing.T, addr string) (host, port string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}
