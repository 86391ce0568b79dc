package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// binary is the petrel executable built for these tests, so they exercise
// what a user runs: flags, config loading, signals and exit status.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "petrel-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "petrel")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	status := m.Run()
	os.RemoveAll(dir)
	os.Exit(status)
}

// deadline bounds each wait on the process, generous for a loaded CI
// machine; a healthy run takes milliseconds.
const deadline = 10 * time.Second

// process is a running petrel with its log records.
type process struct {
	cmd  *exec.Cmd
	logs chan map[string]any // each JSON log line
	done chan struct{}       // closed when the process has exited
	err  error               // how it exited, once done is closed
}

func start(t *testing.T, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: make(chan map[string]any, 100), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				rec = map[string]any{"msg": "not JSON: " + sc.Text()}
			}
			p.logs <- rec
		}
		close(p.logs)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// cleanEnv is the test's environment without PETREL_ variables, which
// would change what the broker under test does.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PETREL_") {
			env = append(env, kv)
		}
	}
	return env
}

// listening waits for n "listening" log records and returns their
// addresses by listener name.
func (p *process) listening(t *testing.T, n int) map[string]string {
	t.Helper()
	addrs := map[string]string{}
	timeout := time.After(deadline)
	for len(addrs) < n {
		select {
		case rec, ok := <-p.logs:
			if !ok {
				<-p.done
				t.Fatalf("petrel exited before listening: %v", p.err)
			}
			if rec["msg"] == "listening" {
				addrs[rec["listener"].(string)] = rec["address"].(string)
			}
		case <-timeout:
			t.Fatalf("no listening log line after %s; have %v", deadline, addrs)
		}
	}
	return addrs
}

// stop sends sig and returns the exit error once the process is gone.
func (p *process) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range p.logs { // drain, so the process never blocks on stderr
		}
	}()
	select {
	case <-p.done:
		return p.err
	case <-time.After(deadline):
		t.Fatalf("petrel still running %s after %v", deadline, sig)
		return nil
	}
}

// connect sends CONNECT over a new connection to addr (host:port or
// unix:/path) and returns the connection and a reader, after checking the
// CONNACK accepts it.
func connect(t *testing.T, addr string, v packet.Version) (net.Conn, *packet.Reader) {
	t.Helper()
	network := "tcp"
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", path
	}
	c, err := net.DialTimeout(network, addr, deadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(deadline))
	b, err := (&packet.Connect{Version: v, CleanStart: true, ClientID: "petrel-test", KeepAlive: 60}).Encode(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	r := packet.NewReader(c, 512)
	r.Version = v
	p, err := r.ReadPacket()
	if err != nil {
		t.Fatalf("read CONNACK over %s: %v", network, err)
	}
	if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode != packet.Success {
		t.Fatalf("over %s: got %#v, want a CONNACK that accepts", network, p)
	}
	return c, r
}

func TestServeUntilSIGTERM(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "petrel.sock")
	cfg := filepath.Join(dir, "petrel.yaml")
	if err := os.WriteFile(cfg, []byte(`
listeners:
  - name: tcp
    address: 127.0.0.1:0
  - name: unix
    address: unix:`+sock+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "--config", cfg)
	addrs := p.listening(t, 2)
	if addrs["unix"] != "unix:"+sock {
		t.Errorf("unix listener logged address %q, want unix:%s", addrs["unix"], sock)
	}
	connect(t, addrs["tcp"], packet.V311)
	_, r := connect(t, addrs["unix"], packet.V5)

	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("after SIGTERM petrel exited with %v, want status 0", err)
	}
	// [MQTT-3.14.2-1] the server says why before it closes the connection.
	got, err := r.ReadPacket()
	if d, ok := got.(*packet.Disconnect); !ok || d.ReasonCode != packet.ServerShuttingDown {
		t.Errorf("v5 client got %#v (%v), want DISCONNECT Server shutting down", got, err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file left behind after shutdown: %v", err)
	}
}

func TestPortFlagAndSIGINT(t *testing.T) {
	p := start(t, "-p", "0", "-v")
	addrs := p.listening(t, 1)
	if !strings.HasPrefix(addrs["default"], "127.0.0.1:") {
		t.Fatalf("listening on %v, want the default listener on 127.0.0.1", addrs)
	}
	connect(t, addrs["default"], packet.V311)
	if err := p.stop(t, os.Interrupt); err != nil {
		t.Errorf("after SIGINT petrel exited with %v, want status 0", err)
	}
}

// TestStartupErrors checks a broker that cannot start says why in one line
// and fails, rather than running without the listeners it was asked for.
func TestStartupErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name   string
		config string
		args   []string
		want   string
	}{
		{name: "non-loopback listener without allow_anonymous",
			config: "listeners:\n  - address: 127.0.0.1:0\n  - name: public\n    address: 0.0.0.0:0\n",
			want:   "petrel: petrel.yaml:4: listeners[1].address: 0.0.0.0:0 is reachable from other machines, so anonymous access there must be explicit: set allow_anonymous: true on this listener, or have clients authenticate with a password_file (or JWT or an HTTP hook) or with certificates (tls.require_certificate: true and tls.identity: cn)"},
		{name: "non-loopback --listen", args: []string{"--listen", "0.0.0.0:0"},
			want: "petrel: --listen 0.0.0.0:0: 0.0.0.0:0 is reachable from other machines, so anonymous access there must be explicit: set password_file, or declare this listener in the config file with allow_anonymous: true"},
		{name: "unknown key", config: "max_queued_messages: 10\nmax_infligth: 5\n",
			want: "petrel: petrel.yaml:2: max_infligth: unknown key"},
		{name: "address in use", args: []string{"--listen", "127.0.0.1:0", "--listen", busy.Addr().String()},
			want: "petrel: listener " + busy.Addr().String() + ": listen tcp " + busy.Addr().String() + ": bind: address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary, tc.args...)
			cmd.Dir = t.TempDir()
			cmd.Env = cleanEnv()
			if tc.config != "" {
				if err := os.WriteFile(filepath.Join(cmd.Dir, "petrel.yaml"), []byte(tc.config), 0o600); err != nil {
					t.Fatal(err)
				}
				cmd.Args = append(cmd.Args, "-c", "petrel.yaml")
			}
			cmd.WaitDelay = deadline
			out, err := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
				t.Errorf("exit status %d (%v), want 1", code, err)
			}
			if !strings.HasPrefix(string(out), tc.want) || strings.Count(string(out), "\n") != 1 {
				t.Errorf("output:\n%s\nwant one line beginning\n%s", out, tc.want)
			}
		})
	}
}
