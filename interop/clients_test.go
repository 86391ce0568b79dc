package interop_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// mqttClient is one client implementation at one protocol version, driven
// the same way whatever it is, so any two can be paired.
type mqttClient interface {
	// String names the client and version in test names.
	String() string
	// require skips the test (see missing) when the client is not installed.
	require(t *testing.T)
	// connectPublisher connects with a clean session. The publish function
	// it returns sends msgs in order and returns once each has been
	// acknowledged as its QoS requires.
	connectPublisher(t *testing.T, addr string) (publish func(t *testing.T, msgs ...message))
	// subscribe connects with a clean session, subscribes to filter at QoS 2
	// and returns once the broker has granted QoS 2 in SUBACK.
	subscribe(t *testing.T, addr, filter string) subscription
	// connectWithWills opens one connection per will, with that will. drop
	// ends them all without DISCONNECT, and disconnect ends them all with
	// one; each first waits for every CONNACK, so that external clients can
	// start while the test does other things. The test calls one of them.
	connectWithWills(t *testing.T, addr string, wills ...message) (drop, disconnect func())
}

var clientSeq atomic.Int64

// clientID is unique in the test binary and at most 23 characters, the most
// MQTT 3.1 allows.
func clientID(role string) string {
	return fmt.Sprintf("%s-%d", role, clientSeq.Add(1))
}

// pahoGolang is github.com/eclipse/paho.golang, MQTT 5 only.
type pahoGolang struct{}

func (pahoGolang) String() string       { return "paho.golang_v5" }
func (pahoGolang) require(t *testing.T) {}

// connect dials addr and connects a paho.golang client that sends what it
// receives to recv, which may be nil. The client disconnects when the test
// ends.
func (pahoGolang) connect(t *testing.T, addr, id string, cp *paho.Connect, recv chan<- message) *paho.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	cfg := paho.ClientConfig{Conn: conn, ClientID: id, OnClientError: func(error) {}}
	if recv != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				p := pr.Packet
				recv <- message{Topic: p.Topic, QoS: p.QoS, Retain: p.Retain, Payload: p.Payload}
				return true, nil
			},
		}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cp.ClientID, cp.KeepAlive = id, 30
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		t.Fatalf("paho.golang connect %s: %v", id, err)
	}
	if ack.ReasonCode != 0 {
		t.Fatalf("paho.golang connect %s: CONNACK reason %#x", id, ack.ReasonCode)
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		select {
		case <-c.Done():
		case <-time.After(waitTimeout):
			t.Errorf("paho.golang client %s did not shut down", id)
		}
	})
	return c
}

func (g pahoGolang) connectPublisher(t *testing.T, addr string) func(*testing.T, ...message) {
	t.Helper()
	c := g.connect(t, addr, clientID("gopub"), &paho.Connect{CleanStart: true}, nil)
	return func(t *testing.T, msgs ...message) {
		t.Helper()
		g.publish(t, c, msgs...)
	}
}

func (pahoGolang) publish(t *testing.T, c *paho.Client, msgs ...message) {
	t.Helper()
	for _, m := range msgs {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		resp, err := c.Publish(ctx, &paho.Publish{Topic: m.Topic, QoS: m.QoS, Retain: m.Retain, Payload: m.Payload})
		cancel()
		if err != nil {
			t.Fatalf("paho.golang publish %v: %v", m, err)
		}
		if resp != nil && resp.ReasonCode >= 0x80 {
			t.Fatalf("paho.golang publish %v: reason %#x", m, resp.ReasonCode)
		}
	}
}

func (g pahoGolang) subscribe(t *testing.T, addr, filter string) subscription {
	t.Helper()
	return g.subscribeAll(t, addr, filter)
}

// subscribeAll subscribes to filters in one SUBSCRIBE.
func (g pahoGolang) subscribeAll(t *testing.T, addr string, filters ...string) subscription {
	t.Helper()
	recv := make(chan message, 1024)
	c := g.connect(t, addr, clientID("gosub"), &paho.Connect{CleanStart: true}, recv)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sub := &paho.Subscribe{}
	for _, f := range filters {
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: 2})
	}
	ack, err := c.Subscribe(ctx, sub)
	if err != nil {
		t.Fatalf("paho.golang subscribe %q: %v", filters, err)
	}
	if len(ack.Reasons) != len(filters) || strings.Count(string(ack.Reasons), "\x02") != len(filters) {
		t.Fatalf("paho.golang subscribe %q: SUBACK reasons %v, want QoS 2 for each", filters, ack.Reasons)
	}
	return subscription{msgs: recv}
}

// connectWithWills goes through a proxy so that drop can cut the sockets
// under the clients, as a network failure would.
func (g pahoGolang) connectWithWills(t *testing.T, addr string, wills ...message) (drop, disconnect func()) {
	t.Helper()
	px := startProxy(t, addr)
	var clients []*paho.Client
	for _, w := range wills {
		clients = append(clients, g.connect(t, px.addr(), clientID("gowill"), &paho.Connect{
			CleanStart:     true,
			WillMessage:    &paho.WillMessage{Topic: w.Topic, QoS: w.QoS, Retain: w.Retain, Payload: w.Payload},
			WillProperties: &paho.WillProperties{},
		}, nil))
	}
	return px.cut, func() {
		for _, c := range clients {
			if err := c.Disconnect(&paho.Disconnect{}); err != nil {
				t.Errorf("paho.golang disconnect: %v", err)
			}
		}
	}
}

// pahoMQTT is github.com/eclipse/paho.mqtt.golang, MQTT 3.1 and 3.1.1.
type pahoMQTT struct{ version uint } // 3 or 4, as the protocol level byte

func (c pahoMQTT) String() string {
	return map[uint]string{3: "paho.mqtt.golang_v31", 4: "paho.mqtt.golang_v311"}[c.version]
}
func (pahoMQTT) require(t *testing.T) {}

func (c pahoMQTT) connect(t *testing.T, addr, id string, will *message) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetProtocolVersion(c.version).
		SetCleanSession(true).
		SetKeepAlive(30 * time.Second).
		SetConnectTimeout(waitTimeout).
		SetAutoReconnect(false)
	if will != nil {
		opts.SetBinaryWill(will.Topic, will.Payload, will.QoS, will.Retain)
	}
	cl := mqtt.NewClient(opts)
	if err := wait(cl.Connect()); err != nil {
		t.Fatalf("paho.mqtt.golang connect %s: %v", id, err)
	}
	t.Cleanup(func() { cl.Disconnect(0) })
	return cl
}

// wait waits for a paho.mqtt.golang token with the suite's deadline.
func wait(tok mqtt.Token) error {
	if !tok.WaitTimeout(waitTimeout) {
		return fmt.Errorf("no answer within %v", waitTimeout)
	}
	return tok.Error()
}

func (c pahoMQTT) connectPublisher(t *testing.T, addr string) func(*testing.T, ...message) {
	t.Helper()
	cl := c.connect(t, addr, clientID("p3pub"), nil)
	return func(t *testing.T, msgs ...message) {
		t.Helper()
		for _, m := range msgs {
			if err := wait(cl.Publish(m.Topic, m.QoS, m.Retain, m.Payload)); err != nil {
				t.Fatalf("paho.mqtt.golang publish %v: %v", m, err)
			}
		}
	}
}

func (c pahoMQTT) subscribe(t *testing.T, addr, filter string) subscription {
	t.Helper()
	cl := c.connect(t, addr, clientID("p3sub"), nil)
	recv := make(chan message, 1024)
	tok := cl.Subscribe(filter, 2, func(_ mqtt.Client, m mqtt.Message) {
		recv <- message{Topic: m.Topic(), QoS: m.Qos(), Retain: m.Retained(), Payload: m.Payload()}
	})
	if err := wait(tok); err != nil {
		t.Fatalf("paho.mqtt.golang subscribe %s: %v", filter, err)
	}
	if granted := tok.(*mqtt.SubscribeToken).Result()[filter]; granted != 2 {
		t.Fatalf("paho.mqtt.golang subscribe %s: granted QoS %d, want 2", filter, granted)
	}
	return subscription{msgs: recv}
}

func (c pahoMQTT) connectWithWills(t *testing.T, addr string, wills ...message) (drop, disconnect func()) {
	t.Helper()
	px := startProxy(t, addr)
	var clients []mqtt.Client
	for _, w := range wills {
		clients = append(clients, c.connect(t, px.addr(), clientID("p3will"), &w))
	}
	return px.cut, func() {
		for _, cl := range clients {
			// Disconnect waits up to the quiesce time for in-flight work,
			// of which there is none, then sends DISCONNECT.
			cl.Disconnect(250)
		}
	}
}

// mosquitto is Debian's mosquitto_pub and mosquitto_sub.
type mosquitto struct{ version string } // as -V takes it: 31, 311 or 5

func (c mosquitto) String() string { return "mosquitto_v" + c.version }

func (mosquitto) require(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"mosquitto_pub", "mosquitto_sub", "stdbuf"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing(t, bin+" not installed")
		}
	}
}

func (c mosquitto) args(addr, id string) []string {
	host, port, _ := net.SplitHostPort(addr)
	return []string{"-h", host, "-p", port, "-V", c.version, "-i", id}
}

// connectPublisher runs one mosquitto_pub per message, each reading its
// payload from stdin so that any bytes can be sent. mosquitto_pub exits 0
// only after the broker has acknowledged a QoS 1 or 2 message.
func (c mosquitto) connectPublisher(t *testing.T, addr string) func(*testing.T, ...message) {
	return func(t *testing.T, msgs ...message) {
		t.Helper()
		for _, m := range msgs {
			args := append(c.args(addr, clientID("mpub")), "-t", m.Topic, "-q", strconv.Itoa(int(m.QoS)), "-s")
			if m.Retain {
				args = append(args, "-r")
			}
			startProcess(t, "", bytes.NewReader(m.Payload), "mosquitto_pub", args...).wait(t)
		}
	}
}

// subscribe has mosquitto_sub print each message as "MSG qos retain
// hex-payload topic", and with -d the SUBACK it got, so the test knows when
// it is subscribed.
func (c mosquitto) subscribe(t *testing.T, addr, filter string) subscription {
	t.Helper()
	args := append(c.args(addr, clientID("msub")), "-t", filter, "-q", "2", "-d", "-F", "MSG %q %r %x %t")
	p := mosquittoSub(t, args)
	line := p.waitFor(t, "SUBACK", func(l string) bool { return strings.HasPrefix(l, "Subscribed (mid:") })
	if !strings.HasSuffix(line, ": 2") {
		t.Fatalf("mosquitto_sub: %q, want QoS 2 granted", line)
	}
	return p.messages(parseMosquittoMessage)
}

// parseMosquittoMessage reads a line that mosquitto_sub printed with
// -F "MSG %q %r %x %t".
func parseMosquittoMessage(line string) (message, bool) {
	f := strings.SplitN(line, " ", 5)
	if len(f) != 5 || f[0] != "MSG" {
		return message{}, false
	}
	qos, err1 := strconv.Atoi(f[1])
	payload, err2 := hex.DecodeString(f[3])
	if err1 != nil || err2 != nil {
		return message{Topic: "unparsable line: " + line}, true
	}
	return message{Topic: f[4], QoS: byte(qos), Retain: f[2] == "1", Payload: payload}, true
}

// mosquittoSub runs mosquitto_sub with its output line-buffered: it
// flushes stdout only after printing a message, so its debug lines, which
// the tests wait for, would otherwise sit in its buffer.
func mosquittoSub(t *testing.T, args []string) *process {
	t.Helper()
	return startProcess(t, "", nil, "stdbuf", append([]string{"-oL", "mosquitto_sub"}, args...)...)
}

// connectWithWills uses one mosquitto_pub -l per will: it stays connected,
// publishing the lines it reads from stdin. drop kills them with SIGKILL;
// disconnect closes their stdin, at which each sends DISCONNECT with reason
// Success and exits. (mosquitto_sub would not do for disconnect: on SIGTERM
// a 5.0 mosquitto_sub asks for its will with Disconnect with Will Message.)
func (c mosquitto) connectWithWills(t *testing.T, addr string, wills ...message) (drop, disconnect func()) {
	t.Helper()
	var procs []*process
	var stdins []*os.File
	for _, w := range wills {
		args := append([]string{"-oL", "mosquitto_pub"}, c.args(addr, clientID("mwill"))...)
		args = append(args, "-t", "interop/idle", "-l", "-d",
			"--will-topic", w.Topic, "--will-payload", string(w.Payload), "--will-qos", strconv.Itoa(int(w.QoS)))
		if w.Retain {
			args = append(args, "--will-retain")
		}
		stdin, stdinW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, startProcess(t, "", stdin, "stdbuf", args...))
		stdin.Close() // the child has its own copy
		t.Cleanup(func() { stdinW.Close() })
		stdins = append(stdins, stdinW)
	}
	connacks := func() {
		t.Helper()
		for _, p := range procs {
			p.waitFor(t, "CONNACK", func(l string) bool { return strings.Contains(l, "received CONNACK (0)") })
		}
	}
	return func() {
			connacks()
			for _, p := range procs {
				p.kill()
			}
		}, func() {
			connacks()
			for i, p := range procs {
				stdins[i].Close()
				p.wait(t)
			}
		}
}

// script is a client driven through a small program of ours, one for
// Python's paho-mqtt (python/client.py) and one for MQTT.js (js/client.js),
// which share a command line and print JSON lines.
type script struct {
	lang    string // "python" or "mqttjs"
	version string // 31, 311 or 5
}

func (c script) String() string { return c.lang + "_v" + c.version }

// Another python3 may come first on PATH; Debian's package installs paho
// for Debian's python only.
const debianPython = "/usr/bin/python3"

var (
	pythonPahoOnce sync.Once
	pythonPahoErr  error
)

func (c script) require(t *testing.T) {
	t.Helper()
	switch c.lang {
	case "python":
		pythonPahoOnce.Do(func() {
			out, err := exec.Command(debianPython, "-c", "import paho.mqtt.client").CombinedOutput()
			if err != nil {
				pythonPahoErr = fmt.Errorf("%v: %s", err, out)
			}
		})
		if pythonPahoErr != nil {
			missing(t, "python3-paho-mqtt not importable from "+debianPython+" ("+pythonPahoErr.Error()+")")
		}
	case "mqttjs":
		if _, err := exec.LookPath("node"); err != nil {
			missing(t, "node not installed")
		}
		if _, err := os.Stat(filepath.Join("js", "node_modules", "mqtt", "package.json")); err != nil {
			missing(t, "MQTT.js not installed in interop/js/node_modules")
		}
	}
}

func (c script) start(t *testing.T, addr, id string, args ...string) *process {
	t.Helper()
	return c.startWithStdin(t, addr, id, nil, args...)
}

func (c script) startWithStdin(t *testing.T, addr, id string, stdin io.Reader, args ...string) *process {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	args = append([]string{host, port, c.version, id}, args...)
	if c.lang == "python" {
		return startProcess(t, "", stdin, debianPython, append([]string{"python/client.py"}, args...)...)
	}
	return startProcess(t, "js", stdin, "node", append([]string{"client.js"}, args...)...)
}

// scriptEvent is one line the scripts print.
type scriptEvent struct {
	Event   string `json:"event"`
	Topic   string `json:"topic"`
	QoS     byte   `json:"qos"`
	Retain  bool   `json:"retain"`
	Payload string `json:"payload"` // hex
	Granted []int  `json:"granted"`
}

func parseEvent(line string) scriptEvent {
	var ev scriptEvent
	_ = json.Unmarshal([]byte(line), &ev) // anything else is not an event
	return ev
}

func encodeMessage(m message) string {
	retain := "0"
	if m.Retain {
		retain = "1"
	}
	return fmt.Sprintf("%s,%d,%s,%x", m.Topic, m.QoS, retain, m.Payload)
}

// connectPublisher keeps one script running for all the test's publishing:
// starting node or python costs more than everything else in a test.
func (c script) connectPublisher(t *testing.T, addr string) func(*testing.T, ...message) {
	t.Helper()
	stdin, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := c.startWithStdin(t, addr, clientID(c.lang[:2]+"pub"), stdin, "pub")
	stdin.Close() // the child has its own copy
	t.Cleanup(func() { stdinW.Close() })
	return func(t *testing.T, msgs ...message) {
		t.Helper()
		for _, m := range msgs {
			if _, err := fmt.Fprintln(stdinW, encodeMessage(m)); err != nil {
				t.Fatalf("%v: %v; output:\n%s", c, err, p.transcript())
			}
			p.waitFor(t, "acknowledgement of "+m.Topic, func(l string) bool {
				ev := parseEvent(l)
				return ev.Event == "published" && ev.Topic == m.Topic
			})
		}
	}
}

func (c script) subscribe(t *testing.T, addr, filter string) subscription {
	t.Helper()
	p := c.start(t, addr, clientID(c.lang[:2]+"sub"), "sub", filter, "2")
	line := p.waitFor(t, "SUBACK", func(l string) bool { return parseEvent(l).Event == "subscribed" })
	if g := parseEvent(line).Granted; len(g) != 1 || g[0] != 2 {
		t.Fatalf("%v: granted %v, want [2]", c, g)
	}
	return p.messages(func(line string) (message, bool) {
		ev := parseEvent(line)
		if ev.Event != "message" {
			return message{}, false
		}
		payload, err := hex.DecodeString(ev.Payload)
		if err != nil {
			return message{Topic: "unparsable line: " + line}, true
		}
		return message{Topic: ev.Topic, QoS: ev.QoS, Retain: ev.Retain, Payload: payload}, true
	})
}

// connectWithWills runs one script holding a connection per will. drop
// kills it with SIGKILL; on SIGTERM it disconnects them all and exits 0.
func (c script) connectWithWills(t *testing.T, addr string, wills ...message) (drop, disconnect func()) {
	t.Helper()
	args := []string{"will"}
	for _, w := range wills {
		args = append(args, encodeMessage(w))
	}
	p := c.start(t, addr, clientID(c.lang[:2]+"will"), args...)
	connacks := func() {
		t.Helper()
		for range wills {
			p.waitFor(t, "CONNACK", func(l string) bool { return parseEvent(l).Event == "connected" })
		}
	}
	return func() { connacks(); p.kill() }, func() { connacks(); p.terminate(t) }
}
