package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/petrelmq/petrel/client"
	"github.com/petrelmq/petrel/packet"
)

// This file holds petrel pub, and the connection flags and error
// reporting it shares with petrel sub. Both take mosquitto_pub and
// mosquitto_sub's flags with the same meaning, so habits and scripts
// carry over.

// mqttArgs are the flags pub and sub share.
type mqttArgs struct {
	host, port, id, idPrefix, user, password, version, url string
	keepAlive                                              int
	qos                                                    int
	topics                                                 []string
	disableClean, debug, help                              bool
	sessionExpiry                                          int64
	willTopic, willPayload                                 string
	willQoS                                                int
	willRetain                                             bool
	// urlPort is the port the -L URL gave, if any.
	urlPort string
	// props are the -D properties by command: CONNECT, PUBLISH, WILL.
	props map[string]*packet.Properties
	transportArgs
}

func (a *mqttArgs) flags(fs *pflag.FlagSet) {
	fs.SortFlags = false
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVarP(&a.host, "host", "h", "localhost", "connect to `HOST`")
	fs.StringVarP(&a.port, "port", "p", "1883", "connect to port `N`")
	fs.StringVarP(&a.url, "url", "L", "", "mqtt(s)://[user[:password]@]host[:port]/topic, or ws(s)://host[:port]/path,\ninstead of -h -p -u -P (and -t)")
	fs.StringArrayVarP(&a.topics, "topic", "t", nil, "MQTT `TOPIC`")
	fs.IntVarP(&a.qos, "qos", "q", 0, "quality of service `0|1|2`")
	fs.StringVarP(&a.id, "id", "i", "", "client identifier `ID` (default petrel-<command>-<pid>)")
	fs.StringVarP(&a.idPrefix, "id-prefix", "I", "", "client identifier `PREFIX` followed by the process id")
	fs.IntVarP(&a.keepAlive, "keepalive", "k", 60, "keep-alive in `SECONDS`; 0 turns it off")
	fs.StringVarP(&a.user, "username", "u", "", "user `NAME`")
	fs.StringVarP(&a.password, "pw", "P", "", "`PASSWORD`")
	fs.StringVarP(&a.version, "protocol-version", "V", "311", "MQTT version: 5, 311, 31 (or mqttv5, mqttv311, mqttv31)")
	fs.BoolVarP(&a.disableClean, "disable-clean-session", "c", false, "keep the session when disconnected (needs -i)")
	fs.Int64VarP(&a.sessionExpiry, "session-expiry-interval", "x", -2, "5.0 session expiry in `SECONDS`; -1 for never")
	fs.StringVar(&a.willTopic, "will-topic", "", "publish a will to `TOPIC` if the connection is lost")
	fs.StringVar(&a.willPayload, "will-payload", "", "the will's `PAYLOAD`")
	fs.IntVar(&a.willQoS, "will-qos", 0, "the will's `QOS`")
	fs.BoolVar(&a.willRetain, "will-retain", false, "retain the will")
	a.transportArgs.flags(fs)
	fs.BoolVarP(&a.debug, "debug", "d", false, "print what the client does to standard error")
	fs.BoolVar(&a.help, "help", false, "show this help")
}

// propertyUsage documents -D, which pflag cannot parse: it takes two to
// four words.
const propertyUsage = `  -D, --property COMMAND NAME VALUE
                          a 5.0 property (implies -V 5): COMMAND is CONNECT,
                          PUBLISH or WILL; NAME as in the specification with
                          '-' between words, such as user-property (which
                          takes a name and a value), content-type,
                          response-topic, correlation-data,
                          message-expiry-interval, payload-format-indicator,
                          topic-alias, session-expiry-interval,
                          receive-maximum, maximum-packet-size,
                          topic-alias-maximum, will-delay-interval
`

// takeProperties removes the -D arguments from args, which pflag cannot
// parse, and records them.
func (a *mqttArgs) takeProperties(args []string) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		if args[i] == "--" {
			return append(rest, args[i:]...), nil
		}
		if args[i] != "-D" && args[i] != "--property" {
			rest = append(rest, args[i])
			continue
		}
		if i+2 >= len(args) {
			return nil, errors.New("-D needs a command, a property name and a value")
		}
		cmd, name := strings.ToUpper(args[i+1]), args[i+2]
		n := 1
		if name == "user-property" {
			n = 2
		}
		if i+3+n > len(args) {
			return nil, fmt.Errorf("-D %s %s needs %d value(s)", cmd, name, n)
		}
		if a.props == nil {
			a.props = map[string]*packet.Properties{}
		}
		p := a.props[cmd]
		if p == nil {
			p = &packet.Properties{}
			a.props[cmd] = p
		}
		if err := setProperty(p, cmd, name, args[i+3:i+3+n]); err != nil {
			return nil, fmt.Errorf("-D %s %s: %w", cmd, name, err)
		}
		i += 2 + n
	}
	return rest, nil
}

// setProperty sets the property called name on p, for command cmd.
func setProperty(p *packet.Properties, cmd, name string, v []string) error {
	allowed := map[string][]string{
		"CONNECT": {"user-property", "session-expiry-interval", "receive-maximum", "maximum-packet-size", "topic-alias-maximum", "request-problem-information", "request-response-information"},
		"PUBLISH": {"user-property", "payload-format-indicator", "message-expiry-interval", "content-type", "response-topic", "correlation-data", "topic-alias"},
		"WILL":    {"user-property", "payload-format-indicator", "message-expiry-interval", "content-type", "response-topic", "correlation-data", "will-delay-interval"},
	}
	names, ok := allowed[cmd]
	if !ok {
		return errors.New("the command must be CONNECT, PUBLISH or WILL")
	}
	if !slices.Contains(names, name) {
		return fmt.Errorf("not a property of %s; these are: %s", cmd, strings.Join(names, ", "))
	}
	number := func(bits int) (uint64, error) {
		n, err := strconv.ParseUint(v[0], 10, bits)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number of %d bits", v[0], bits)
		}
		return n, nil
	}
	var err error
	var n uint64
	switch name {
	case "user-property":
		p.User = append(p.User, packet.UserProperty{Key: v[0], Value: v[1]})
	case "content-type":
		p.ContentType = v[0]
	case "response-topic":
		p.ResponseTopic = v[0]
	case "correlation-data":
		p.CorrelationData = []byte(v[0])
	case "payload-format-indicator", "request-problem-information", "request-response-information":
		if n, err = number(8); err == nil && n > 1 {
			err = fmt.Errorf("%d: only 0 and 1 are allowed", n)
		}
		switch name {
		case "payload-format-indicator":
			p.PayloadFormat = byte(n)
		case "request-problem-information":
			p.RequestProblemInfo, p.HasRequestProblemInfo = byte(n), true
		default:
			p.RequestResponseInfo = byte(n)
		}
	case "message-expiry-interval":
		n, err = number(32)
		p.MessageExpiry, p.HasMessageExpiry = uint32(n), true
	case "session-expiry-interval":
		n, err = number(32)
		p.SessionExpiry, p.HasSessionExpiry = uint32(n), true
	case "will-delay-interval":
		n, err = number(32)
		p.WillDelay = uint32(n)
	case "maximum-packet-size":
		n, err = number(32)
		p.MaximumPacketSize = uint32(n)
	case "receive-maximum", "topic-alias-maximum", "topic-alias":
		n, err = number(16)
		switch name {
		case "receive-maximum":
			p.ReceiveMaximum = uint16(n)
		case "topic-alias-maximum":
			p.TopicAliasMaximum = uint16(n)
		default:
			p.TopicAlias = uint16(n)
		}
	}
	return err
}

// options turns the shared flags into client options, for the command
// named cmd ("pub" or "sub").
func (a *mqttArgs) options(fs *pflag.FlagSet, cmd string) (client.Options, error) {
	var o client.Options
	if a.url != "" {
		if err := a.applyURL(fs); err != nil {
			return o, err
		}
	}
	switch a.version {
	case "5", "mqttv5":
		o.Version = packet.V5
	case "311", "mqttv311":
		o.Version = packet.V311
	case "31", "mqttv31":
		o.Version = packet.V31
	default:
		return o, fmt.Errorf("-V %s: the protocol version must be 5, 311 or 31", a.version)
	}
	if a.props != nil {
		// As mosquitto does: properties exist only in 5.0.
		if fs.Changed("protocol-version") && o.Version != packet.V5 {
			return o, errors.New("-D sets 5.0 properties, which MQTT " + o.Version.String() + " cannot carry")
		}
		o.Version = packet.V5
	}
	if a.qos < 0 || a.qos > 2 || a.willQoS < 0 || a.willQoS > 2 {
		return o, errors.New("QoS must be 0, 1 or 2")
	}
	if !fs.Changed("port") && a.urlPort == "" {
		// The usual port of the transport, as mosquitto_pub takes 8883
		// for TLS.
		switch {
		case a.scheme == "ws":
			a.port = "80"
		case a.scheme == "wss":
			a.port = "443"
		case a.usesTLS():
			a.port = "8883"
		}
	}
	o.Addr = net.JoinHostPort(a.host, a.port)
	dial, err := a.dialer(a.host, o.Addr)
	if err != nil {
		return o, err
	}
	o.Dialer = dial
	o.ClientID = a.id
	switch {
	case a.id != "" && a.idPrefix != "":
		return o, errors.New("-i and -I cannot be used together")
	case a.idPrefix != "":
		o.ClientID = a.idPrefix + strconv.Itoa(os.Getpid())
	case a.id == "":
		if a.disableClean {
			return o, errors.New("-c keeps a session, which needs a client identifier: give one with -i")
		}
		o.ClientID = "petrel-" + cmd + "-" + strconv.Itoa(os.Getpid())
	}
	o.CleanStart = !a.disableClean
	o.KeepAlive = time.Duration(a.keepAlive) * time.Second
	if a.keepAlive == 0 {
		o.KeepAlive = -1
	}
	if fs.Changed("username") || a.user != "" {
		o.Username = a.user
	}
	if fs.Changed("pw") || a.password != "" {
		o.Password = []byte(a.password)
	}
	switch {
	case a.sessionExpiry == -1:
		o.SessionExpiry = 0xFFFFFFFF
	case a.sessionExpiry >= 0 && a.sessionExpiry <= 0xFFFFFFFF:
		o.SessionExpiry = uint32(a.sessionExpiry)
	case a.sessionExpiry == -2 && a.disableClean:
		// mosquitto's default for -c: the session never expires.
		o.SessionExpiry = 0xFFFFFFFF
	case a.sessionExpiry != -2:
		return o, fmt.Errorf("-x %d: the session expiry must be -1 (never) or 0 to 4294967295 seconds", a.sessionExpiry)
	}
	if p := a.props["CONNECT"]; p != nil {
		o.Properties = *p
	}
	if a.willTopic != "" {
		o.Will = &packet.Will{Topic: a.willTopic, Payload: []byte(a.willPayload), QoS: packet.QoS(a.willQoS), Retain: a.willRetain}
		if p := a.props["WILL"]; p != nil {
			o.Will.Props = *p
		}
	} else if fs.Changed("will-payload") || fs.Changed("will-qos") || fs.Changed("will-retain") || a.props["WILL"] != nil {
		return o, errors.New("the will options need --will-topic")
	}
	return o, nil
}

// applyURL sets host, port, credentials and topic from -L.
func (a *mqttArgs) applyURL(fs *pflag.FlagSet) error {
	u, err := url.Parse(a.url)
	if err != nil {
		return fmt.Errorf("-L: %w", err)
	}
	switch u.Scheme {
	case "mqtt", "mqtts", "ws", "wss":
	default:
		return fmt.Errorf("-L %s: the URL must be mqtt:// or mqtts://[user[:password]@]host[:port]/topic, or ws:// or wss://host[:port]/path", a.url)
	}
	a.scheme = u.Scheme
	a.host = u.Hostname()
	if p := u.Port(); p != "" {
		a.port, a.urlPort = p, p
	}
	if u.User != nil {
		a.user = u.User.Username()
		a.password, _ = u.User.Password()
	}
	if u.Scheme == "ws" || u.Scheme == "wss" {
		// The path is the server's WebSocket endpoint, not a topic.
		a.wsPath = u.Path
		return nil
	}
	if topic := strings.TrimPrefix(u.Path, "/"); topic != "" && !fs.Changed("topic") {
		a.topics = []string{topic}
	}
	return nil
}

// connect dials the server, printing the exchange with -d.
func (a *mqttArgs) connect(ctx context.Context, o client.Options, stderr io.Writer) (*client.Client, error) {
	if a.debug {
		fmt.Fprintf(stderr, "Client %s sending CONNECT to %s (MQTT %s)\n", o.ClientID, o.Addr, o.Version)
		o.OnConnect = func(ack *packet.Connack) {
			fmt.Fprintf(stderr, "Client %s received CONNACK (session present %t)\n", o.ClientID, ack.SessionPresent)
		}
		lost := o.OnConnectionLost
		o.OnConnectionLost = func(err error) {
			fmt.Fprintf(stderr, "Client %s lost the connection: %v\n", o.ClientID, err)
			if lost != nil {
				lost(err)
			}
		}
	}
	return client.Dial(ctx, o)
}

// failure prints why the command failed, in terms that say what to do,
// and returns the exit status: the CONNACK code for a refusal, as
// mosquitto_pub and mosquitto_sub do, and 1 otherwise.
func failure(stderr io.Writer, cmd, addr string, err error) int {
	var refused *client.ReasonError
	var dnsErr *net.DNSError
	msg := err.Error()
	status := 1
	switch {
	case errors.As(err, &refused) && refused.Packet == packet.CONNACK:
		status = int(refused.WireCode())
	case tlsFailure(err) != "":
		msg = tlsFailure(err)
	case errors.As(err, &dnsErr):
		msg = fmt.Sprintf("cannot find host %q: %v", dnsErr.Name, dnsErr.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = fmt.Sprintf("connection refused by %s: is an MQTT server listening there?", addr)
	case errors.Is(err, context.DeadlineExceeded):
		msg = fmt.Sprintf("no answer from %s in time: %v", addr, err)
	}
	fmt.Fprintf(stderr, "petrel %s: %s\n", cmd, msg)
	return status
}

// signalContext ends on SIGINT or SIGTERM, so a command disconnects
// politely instead of dying with its will published.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// pubArgs are petrel pub's own flags.
type pubArgs struct {
	mqttArgs
	message, file              string
	lines, null, stdin, retain bool
	repeat                     int
	repeatDelay                float64
}

const pubUsage = `petrel pub publishes MQTT messages, taking mosquitto_pub's flags.

Usage:
  petrel pub -t TOPIC (-m MESSAGE | -f FILE | -l | -n | -s) [flags]

Flags:
`

func pub(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var a pubArgs
	fs := pflag.NewFlagSet("petrel pub", pflag.ContinueOnError)
	a.flags(fs)
	fs.StringVarP(&a.message, "message", "m", "", "publish `MESSAGE`")
	fs.StringVarP(&a.file, "file", "f", "", "publish the contents of `FILE`")
	fs.BoolVarP(&a.lines, "stdin-line", "l", false, "publish each line of standard input as a message")
	fs.BoolVarP(&a.null, "null-message", "n", false, "publish an empty message")
	fs.BoolVarP(&a.stdin, "stdin-file", "s", false, "publish all of standard input as one message")
	fs.BoolVarP(&a.retain, "retain", "r", false, "ask the server to retain the message")
	fs.IntVar(&a.repeat, "repeat", 1, "publish the message `N` times")
	fs.Float64Var(&a.repeatDelay, "repeat-delay", 0, "wait `SECONDS` between repeats")
	rest, err := a.takeProperties(args)
	if err == nil {
		err = fs.Parse(rest)
	}
	if err != nil {
		return cmdUsageError(stderr, "pub", err)
	}
	if a.help {
		fmt.Fprint(stdout, pubUsage+fs.FlagUsages()+propertyUsage)
		return 0
	}
	o, err := a.options(fs, "pub")
	if err != nil {
		return cmdUsageError(stderr, "pub", err)
	}
	if fs.NArg() > 0 {
		return cmdUsageError(stderr, "pub", fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if len(a.topics) != 1 {
		return cmdUsageError(stderr, "pub", errors.New("give one topic to publish to with -t"))
	}
	if strings.ContainsAny(a.topics[0], "+#") {
		return cmdUsageError(stderr, "pub", fmt.Errorf("-t %s: one cannot publish to a topic filter with wildcards", a.topics[0]))
	}
	sources := 0
	for _, set := range []bool{fs.Changed("message"), a.file != "", a.lines, a.null, a.stdin} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return cmdUsageError(stderr, "pub", errors.New("give exactly one of -m, -f, -l, -n and -s"))
	}
	var payload []byte
	switch {
	case fs.Changed("message"):
		payload = []byte(a.message)
	case a.file != "":
		if payload, err = os.ReadFile(a.file); err != nil {
			fmt.Fprintf(stderr, "petrel pub: %v\n", err)
			return 1
		}
	case a.stdin:
		if payload, err = io.ReadAll(stdin); err != nil {
			fmt.Fprintf(stderr, "petrel pub: read standard input: %v\n", err)
			return 1
		}
	}
	msg := &packet.Publish{Topic: a.topics[0], QoS: packet.QoS(a.qos), Retain: a.retain, Payload: payload}
	if p := a.props["PUBLISH"]; p != nil {
		msg.Props = *p
	}

	ctx, stop := signalContext()
	defer stop()
	c, err := a.connect(ctx, o, stderr)
	if err != nil {
		return failure(stderr, "pub", o.Addr, err)
	}
	send := func(m *packet.Publish) error {
		if a.debug {
			fmt.Fprintf(stderr, "Client %s sending PUBLISH (q%d, r%t, '%s', ... (%d bytes))\n", o.ClientID, m.QoS, m.Retain, m.Topic, len(m.Payload))
		}
		return c.Publish(ctx, m)
	}
	if a.lines {
		err = publishLines(stdin, msg, send)
	} else {
		for i := 0; i < a.repeat && err == nil; i++ {
			if i > 0 && a.repeatDelay > 0 {
				select {
				case <-time.After(time.Duration(a.repeatDelay * float64(time.Second))):
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
			if err == nil {
				err = send(msg)
			}
		}
	}
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	derr := c.Disconnect(dctx, packet.NormalDisconnection)
	if err = errors.Join(err, derr); err != nil {
		return failure(stderr, "pub", o.Addr, err)
	}
	return 0
}

// publishLines publishes each line of r, without its line ending, as it
// is read: a pipe feeds messages one by one.
func publishLines(r io.Reader, msg *packet.Publish, send func(*packet.Publish) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, packet.MaxPacketSize)
	for sc.Scan() {
		m := *msg
		m.Payload = sc.Bytes()
		if err := send(&m); err != nil {
			return err
		}
	}
	return sc.Err()
}

// cmdUsageError reports a bad command line for pub or sub.
func cmdUsageError(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "petrel %s: %v (see petrel %s --help)\n", cmd, err, cmd)
	return 2
}
