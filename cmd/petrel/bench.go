package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/petrelmq/petrel/internal/loadgen"
	"github.com/petrelmq/petrel/packet"
)

// This file holds petrel bench, the load generator: flags in, a
// loadgen.Config out, progress while it runs and a report at the end.

const benchUsage = `petrel bench loads an MQTT server and reports throughput, loss and latency.

Usage:
  petrel bench SCENARIO [flags]

Scenarios:
  conn     open --clients connections (1000) and hold them, idle, for --duration;
           with --sub-topic, each subscribes once first (--filters times, %j
           in the filter numbering them); with --retained, they publish that
           many retained messages between them first, to --topic (retained/%i)
  pub      --pubs publishers (1) to --topic, for subscribers elsewhere
  sub      --subs subscribers (1) to --sub-topic (bench/#), for publishers elsewhere
  fanin    --pubs publishers (4) on topics of their own, --subs subscribers (1)
           to a wildcard filter that matches them all
  fanout   --pubs publishers (1) and --subs subscribers (16) on one topic
  p2p      --clients pairs (8): publisher i to subscriber i, on a topic each
  shared   --pubs publishers (8), --subs subscribers (4) in one shared subscription

Every message carries its publisher, a sequence number and a timestamp, so
subscribers count losses and duplicates exactly and time each delivery.
The exit status is 1 if QoS 1 or 2 messages were lost, QoS 2 messages
were delivered twice, or anything failed; 2 for a bad command line.

Flags:
`

// benchArgs are petrel bench's flags as parsed.
type benchArgs struct {
	host, port, url, user, password, version string
	cafile                                   string
	insecure                                 bool
	sourceAddrs                              []string
	keepAlive                                int
	clean                                    bool
	connectRate                              float64
	idPrefix                                 string

	clients, pubs, subs          int
	topic, subTopic, sharedGroup string
	filters, retained            int
	ready                        string
	qos                          string
	subQoS                       int
	size                         int
	rate                         float64
	inflight                     int
	count                        int64
	duration, drain              time.Duration

	json, quiet bool
	html        string
	brokerPID   int
	help        bool
}

func benchFlags(a *benchArgs) *pflag.FlagSet {
	fs := pflag.NewFlagSet("petrel bench", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVarP(&a.host, "host", "h", "localhost", "connect to `HOST`")
	fs.StringVarP(&a.port, "port", "p", "1883", "connect to port `N`")
	fs.StringVarP(&a.url, "url", "L", "", "mqtt://, mqtts://, ws:// or wss://[user[:password]@]host[:port][/path]\ninstead of -h and -p (WebSocket path default /mqtt)")
	fs.StringVarP(&a.version, "protocol-version", "V", "311", "MQTT version: 5, 311 or 31")
	fs.StringVarP(&a.user, "username", "u", "", "user `NAME`")
	fs.StringVarP(&a.password, "pw", "P", "", "`PASSWORD`")
	fs.StringVar(&a.cafile, "cafile", "", "trust the CAs in `FILE` (PEM) for TLS; implies TLS")
	fs.BoolVar(&a.insecure, "insecure", false, "do not check the server's TLS certificate")
	fs.StringSliceVar(&a.sourceAddrs, "source-addrs", nil, "spread connections over these local `ADDRS` (127.0.0.1,127.0.0.2,...):\neach has about 28,000 ports towards one server address")
	fs.IntVarP(&a.keepAlive, "keepalive", "k", 60, "keep-alive in `SECONDS`")
	fs.BoolVar(&a.clean, "clean", true, "clean sessions; --clean=false keeps them (5 minutes at 5.0)")
	fs.Float64Var(&a.connectRate, "connect-rate", 0, "open at most `N` connections a second (default as fast as accepted)")
	fs.StringVarP(&a.idPrefix, "id-prefix", "I", "", "client identifiers start with `PREFIX` (default petrel-bench-<pid>-)")

	fs.IntVar(&a.clients, "clients", 0, "connections (conn) or pairs (p2p)")
	fs.IntVar(&a.pubs, "pubs", 0, "publishers")
	fs.IntVar(&a.subs, "subs", 0, "subscribers")
	fs.StringVarP(&a.topic, "topic", "t", "", "publish to `PATTERN`; %i is the publisher's index (default bench/%i,\nor bench/fanout for fanout)")
	fs.StringVar(&a.subTopic, "sub-topic", "", "subscribe to `FILTER`; %i is the subscriber's (conn: the connection's)\nindex (default derived from --topic; conn: none)")
	fs.StringVar(&a.sharedGroup, "shared-group", "", "shared subscription `NAME` (shared: default bench; sub: share one)")
	fs.IntVar(&a.filters, "filters", 0, "conn: each connection subscribes to `N` filters, %j in --sub-topic numbering them")
	fs.IntVar(&a.retained, "retained", 0, "conn: publish `N` retained messages (QoS 1) between the connections, %i in --topic\nnumbering them")
	fs.StringVar(&a.ready, "ready", "", "conn: create `FILE` once every connection is open, subscribed and its retained\nmessages acknowledged")
	fs.StringVarP(&a.qos, "qos", "q", "0", "publish at `QOS`; a list such as 0,1,2 gives publishers each in turn")
	fs.IntVar(&a.subQoS, "sub-qos", 0, "subscribe at `QOS` (default the highest of --qos)")
	fs.IntVar(&a.size, "size", 64, "payload `BYTES`, at least 24")
	fs.Float64Var(&a.rate, "rate", 0, "messages a second from each publisher (default as fast as possible)")
	fs.IntVar(&a.inflight, "inflight", 64, "unacknowledged QoS 1 and 2 messages per publisher")
	fs.Int64VarP(&a.count, "count", "C", 0, "messages per publisher (sub: per subscriber)")
	fs.DurationVar(&a.duration, "duration", 0, "publish (conn: hold) for `DURATION` (default 10s unless --count)")
	fs.DurationVar(&a.drain, "drain", 5*time.Second, "wait up to `DURATION` for deliveries after publishing")

	fs.BoolVar(&a.json, "json", false, "print the report as JSON")
	fs.StringVar(&a.html, "html", "", "also write the report with charts to `FILE` (self-contained HTML)")
	fs.IntVar(&a.brokerPID, "broker-pid", 0, "report the CPU and memory of the broker's process `PID` (Linux)")
	fs.BoolVar(&a.quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&a.help, "help", false, "show this help")
	return fs
}

func bench(args []string, stdout, stderr io.Writer) int {
	var a benchArgs
	fs := benchFlags(&a)
	if err := fs.Parse(args); err != nil {
		return cmdUsageError(stderr, "bench", err)
	}
	if a.help {
		fmt.Fprint(stdout, benchUsage+fs.FlagUsages())
		return 0
	}
	cfg, err := a.config(fs)
	if err == nil {
		err = cfg.Check()
	}
	if err != nil {
		return cmdUsageError(stderr, "bench", err)
	}
	if !a.quiet {
		cfg.Progress = progressPrinter(stderr)
	}
	ctx, stop := signalContext()
	defer stop()
	// A first Ctrl-C ends the run with a report; a second one kills.
	context.AfterFunc(ctx, stop)

	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return failure(stderr, "bench", cfg.Addr, err)
	}
	if a.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteText(stdout)
	}
	if err == nil && a.html != "" {
		err = writeHTML(a.html, rep)
	}
	if err != nil {
		fmt.Fprintf(stderr, "petrel bench: %v\n", err)
		return 1
	}
	if len(rep.Failures) > 0 {
		if a.json {
			for _, f := range rep.Failures {
				fmt.Fprintf(stderr, "petrel bench: FAILED: %s\n", f)
			}
		}
		return 1
	}
	return 0
}

func writeHTML(path string, rep *loadgen.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteHTML(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// config turns the flags into a run's configuration.
func (a *benchArgs) config(fs *pflag.FlagSet) (loadgen.Config, error) {
	var cfg loadgen.Config
	if fs.NArg() != 1 {
		return cfg, errors.New("name one scenario: conn, pub, sub, fanin, fanout, p2p or shared")
	}
	cfg.Scenario = loadgen.Scenario(fs.Arg(0))
	if err := a.target(fs, &cfg.Target); err != nil {
		return cfg, err
	}
	switch a.version {
	case "5", "mqttv5", "5.0":
		cfg.Version = packet.V5
	case "311", "mqttv311", "3.1.1":
		cfg.Version = packet.V311
	case "31", "mqttv31", "3.1":
		cfg.Version = packet.V31
	default:
		return cfg, fmt.Errorf("-V %s: the protocol version must be 5, 311 or 31", a.version)
	}
	for _, q := range strings.Split(a.qos, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(q))
		if err != nil || n < 0 || n > 2 {
			return cfg, fmt.Errorf("--qos %s: QoS must be 0, 1 or 2", a.qos)
		}
		cfg.QoS = append(cfg.QoS, packet.QoS(n))
	}
	if fs.Changed("sub-qos") {
		if a.subQoS < 0 || a.subQoS > 2 {
			return cfg, fmt.Errorf("--sub-qos %d: QoS must be 0, 1 or 2", a.subQoS)
		}
		q := packet.QoS(a.subQoS)
		cfg.SubQoS = &q
	}
	if a.keepAlive < 0 {
		return cfg, fmt.Errorf("--keepalive %d: the keep-alive cannot be negative", a.keepAlive)
	}
	cfg.Clients, cfg.Pubs, cfg.Subs = a.clients, a.pubs, a.subs
	cfg.Topic, cfg.SubTopic, cfg.SharedGroup = a.topic, a.subTopic, a.sharedGroup
	cfg.Filters, cfg.Retained = a.filters, a.retained
	if a.ready != "" {
		if cfg.Scenario != loadgen.Conn {
			return cfg, fmt.Errorf("--ready: only conn has a moment when it is ready")
		}
		file := a.ready
		cfg.Ready = func() {
			if err := os.WriteFile(file, nil, 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "petrel bench: --ready: %v\n", err)
			}
		}
	}
	cfg.Size, cfg.Rate, cfg.Inflight = a.size, a.rate, a.inflight
	cfg.Count, cfg.Duration, cfg.Drain = a.count, a.duration, a.drain
	cfg.Persistent, cfg.ConnectRate, cfg.ClientIDPrefix = !a.clean, a.connectRate, a.idPrefix
	cfg.KeepAlive = time.Duration(a.keepAlive) * time.Second
	cfg.BrokerPID = a.brokerPID
	return cfg, nil
}

// target sets how to reach the server from -h, -p, -L and the TLS flags.
func (a *benchArgs) target(fs *pflag.FlagSet, t *loadgen.Target) error {
	host, port := a.host, a.port
	secure := a.cafile != ""
	if a.url != "" {
		u, err := url.Parse(a.url)
		if err != nil {
			return fmt.Errorf("-L: %w", err)
		}
		defaultPort := map[string]string{"mqtt": "1883", "mqtts": "8883", "ws": "80", "wss": "443"}[u.Scheme]
		if defaultPort == "" {
			return fmt.Errorf("-L %s: the URL must start mqtt://, mqtts://, ws:// or wss://", a.url)
		}
		host, port = u.Hostname(), u.Port()
		if port == "" {
			port = defaultPort
		}
		if u.Scheme == "ws" || u.Scheme == "wss" {
			t.WebSocketPath = u.EscapedPath()
			if t.WebSocketPath == "" {
				t.WebSocketPath = "/mqtt"
			}
		}
		secure = secure || u.Scheme == "mqtts" || u.Scheme == "wss"
		if u.User != nil {
			a.user = u.User.Username()
			a.password, _ = u.User.Password()
		}
	}
	t.Addr = net.JoinHostPort(host, port)
	if a.insecure && !secure {
		return errors.New("--insecure is for TLS: use -L mqtts:// or wss://, or --cafile")
	}
	if secure {
		t.TLS = &tls.Config{ServerName: host, InsecureSkipVerify: a.insecure}
		if a.cafile != "" {
			pem, err := os.ReadFile(a.cafile)
			if err != nil {
				return fmt.Errorf("--cafile: %w", err)
			}
			t.TLS.RootCAs = x509.NewCertPool()
			if !t.TLS.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("--cafile %s: no PEM certificate in it", a.cafile)
			}
		}
	}
	for _, s := range a.sourceAddrs {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("--source-addrs: %q is not an IP address", s)
		}
		t.SourceAddrs = append(t.SourceAddrs, ip)
	}
	t.Username = a.user
	if fs.Changed("pw") || a.password != "" {
		t.Password = []byte(a.password)
	}
	return nil
}

// progressPrinter writes a line a second: aligned for a person at a
// terminal, a log record otherwise.
func progressPrinter(w io.Writer) func(loadgen.Sample) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return func(s loadgen.Sample) {
			fmt.Fprintf(w, "%5.0fs  connections %6d  sent %9.0f/s  received %10.0f/s  in-flight %6d  errors %d\n",
				s.T, s.Connections, s.SentRate, s.ReceivedRate, s.InFlight, s.Errors)
		}
	}
	log := slog.New(slog.NewTextHandler(w, nil))
	return func(s loadgen.Sample) {
		log.Info("progress", "t", int(s.T+0.5), "connections", s.Connections, "sent_per_second", int64(s.SentRate),
			"received_per_second", int64(s.ReceivedRate), "in_flight", s.InFlight, "errors", s.Errors)
	}
}
