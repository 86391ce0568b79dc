package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/petrelmq/petrel/client"
	"github.com/petrelmq/petrel/packet"
)

// subArgs are petrel sub's own flags.
type subArgs struct {
	mqttArgs
	count                               int
	timeout                             int
	verbose, noEOL, noRetained, subExit bool
	format                              string
}

const subUsage = `petrel sub subscribes to MQTT topics and prints the messages, taking
mosquitto_sub's flags.

Usage:
  petrel sub -t FILTER [-t FILTER ...] [flags]

Flags:
`

// formatUsage documents -F's sequences, those of mosquitto_sub.
const formatUsage = `
-F sequences: %t topic, %p payload, %q QoS, %r retained (0 or 1), %l payload
length, %m packet identifier, %I ISO-8601 time, %U Unix time, %j JSON, %J JSON
with the payload as JSON, %x and %X payload in hex, and the 5.0 properties %C
content type, %D correlation data, %E message expiry, %F payload format, %P
user properties, %R response topic; \n \t \r \0 \\ and %% for themselves.
`

// timedOut is mosquitto_sub's exit status when -W ends it.
const timedOut = 27

func sub(args []string, stdout, stderr io.Writer) int {
	var a subArgs
	fs := pflag.NewFlagSet("petrel sub", pflag.ContinueOnError)
	a.flags(fs)
	fs.IntVarP(&a.count, "count", "C", 0, "exit after `N` messages")
	fs.IntVarP(&a.timeout, "timeout", "W", 0, "exit after `SECONDS`, with status 27")
	fs.BoolVarP(&a.verbose, "verbose", "v", false, `print "topic payload"`)
	fs.StringVarP(&a.format, "format", "F", "", "print each message in `FORMAT` (see below)")
	fs.BoolVarP(&a.noEOL, "no-eol", "N", false, "print no line ending after each message")
	fs.BoolVarP(&a.noRetained, "no-retained", "R", false, "do not print retained (stale) messages")
	fs.BoolVarP(&a.subExit, "exit-after-subscribe", "E", false, "exit once the subscriptions are acknowledged")
	rest, err := a.takeProperties(args)
	if err == nil {
		err = fs.Parse(rest)
	}
	if err != nil {
		return cmdUsageError(stderr, "sub", err)
	}
	if a.help {
		fmt.Fprint(stdout, subUsage+fs.FlagUsages()+propertyUsage+formatUsage)
		return 0
	}
	o, err := a.options(fs, "sub")
	if err != nil {
		return cmdUsageError(stderr, "sub", err)
	}
	if a.props["PUBLISH"] != nil {
		return cmdUsageError(stderr, "sub", errors.New("-D PUBLISH is for petrel pub"))
	}
	if fs.NArg() > 0 {
		return cmdUsageError(stderr, "sub", fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if len(a.topics) == 0 {
		return cmdUsageError(stderr, "sub", errors.New("give at least one topic filter with -t"))
	}

	ctx, stop := signalContext()
	defer stop()
	out := bufio.NewWriter(stdout)
	printed := make(chan struct{}, 1)
	n := 0
	// Messages are printed on the client's delivery goroutine, in order;
	// the main goroutine only waits for the end.
	o.OnMessage = func(m *packet.Publish) {
		if a.count > 0 && n >= a.count || a.noRetained && m.Retain {
			return
		}
		if a.debug {
			fmt.Fprintf(stderr, "Client %s received PUBLISH (q%d, r%t, m%d, '%s', ... (%d bytes))\n", o.ClientID, m.QoS, m.Retain, m.PacketID, m.Topic, len(m.Payload))
		}
		a.print(out, m, time.Now())
		out.Flush()
		n++
		if a.count > 0 && n == a.count {
			printed <- struct{}{}
		}
	}
	// A subscriber reconnects, as mosquitto_sub does; with -c it finds its
	// session.
	o.AutoReconnect = true
	c, err := a.connect(ctx, o, stderr)
	if err != nil {
		return failure(stderr, "sub", o.Addr, err)
	}
	var timeout <-chan time.Time
	if a.timeout > 0 {
		timeout = time.After(time.Duration(a.timeout) * time.Second)
	}
	status := a.subscribe(ctx, c, stderr, o.ClientID)
	if status < 0 && !a.subExit {
		select {
		case <-printed:
		case <-timeout:
			fmt.Fprintln(stderr, "Timed out")
			status = timedOut
		case <-ctx.Done():
		}
	}
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Disconnect(dctx, packet.NormalDisconnection); err != nil && status <= 0 {
		return failure(stderr, "sub", o.Addr, err)
	}
	return max(status, 0)
}

// subscribe makes the subscriptions and returns -1 if they may be waited
// on, or the exit status if the command should end.
func (a *subArgs) subscribe(ctx context.Context, c *client.Client, stderr io.Writer, id string) int {
	subs := make([]packet.Subscription, len(a.topics))
	for i, t := range a.topics {
		subs[i] = packet.Subscription{Filter: t, QoS: packet.QoS(a.qos)}
	}
	if a.debug {
		fmt.Fprintf(stderr, "Client %s sending SUBSCRIBE (%s, QoS %d)\n", id, strings.Join(a.topics, ", "), a.qos)
	}
	codes, err := c.Subscribe(ctx, subs...)
	if err != nil {
		return failure(stderr, "sub", "", err)
	}
	if a.debug {
		fmt.Fprintf(stderr, "Client %s received SUBACK\n", id)
	}
	refused := 0
	for i, code := range codes {
		if code.IsError() {
			refused++
			fmt.Fprintf(stderr, "petrel sub: the server refused the subscription to %q: %s\n", a.topics[i], code)
		}
	}
	if refused == len(a.topics) {
		return 1
	}
	return -1
}

// print writes one message as the flags ask.
func (a *subArgs) print(w *bufio.Writer, m *packet.Publish, now time.Time) {
	switch {
	case a.format != "":
		format(w, a.format, m, now)
	case a.verbose:
		w.WriteString(m.Topic)
		w.WriteByte(' ')
		if len(m.Payload) == 0 {
			// As mosquitto_sub prints it, which scripts may look for.
			w.WriteString("(null)")
		}
		w.Write(m.Payload)
	case len(m.Payload) == 0:
		// mosquitto_sub prints nothing at all, not even a line ending.
		return
	default:
		w.Write(m.Payload)
	}
	if !a.noEOL {
		w.WriteByte('\n')
	}
}

// format writes m as mosquitto_sub's -F describes.
func format(w *bufio.Writer, f string, m *packet.Publish, now time.Time) {
	p := &m.Props
	for i := 0; i < len(f); i++ {
		c := f[i]
		if (c != '%' && c != '\\') || i+1 == len(f) {
			w.WriteByte(c)
			continue
		}
		i++
		if c == '\\' {
			w.WriteString(map[byte]string{'n': "\n", 't': "\t", 'r': "\r", '0': "\x00", '\\': "\\", 'a': "\a", 'e': "\x1b", 'v': "\v"}[f[i]])
			continue
		}
		switch f[i] {
		case '%':
			w.WriteByte('%')
		case 't':
			w.WriteString(m.Topic)
		case 'p':
			w.Write(m.Payload)
		case 'q':
			w.WriteString(strconv.Itoa(int(m.QoS)))
		case 'r':
			w.WriteString(map[bool]string{false: "0", true: "1"}[m.Retain])
		case 'l':
			w.WriteString(strconv.Itoa(len(m.Payload)))
		case 'm':
			w.WriteString(strconv.Itoa(int(m.PacketID)))
		case 'I':
			w.WriteString(now.Format("2006-01-02T15:04:05-0700"))
		case 'U':
			fmt.Fprintf(w, "%d.%09d", now.Unix(), now.Nanosecond())
		case 'j', 'J':
			w.Write(messageJSON(m, now, f[i] == 'J'))
		case 'x':
			w.WriteString(hex.EncodeToString(m.Payload))
		case 'X':
			w.WriteString(strings.ToUpper(hex.EncodeToString(m.Payload)))
		case 'C':
			w.WriteString(p.ContentType)
		case 'D':
			w.Write(p.CorrelationData)
		case 'E':
			if p.HasMessageExpiry {
				w.WriteString(strconv.FormatUint(uint64(p.MessageExpiry), 10))
			}
		case 'F':
			if p.PayloadFormat != 0 {
				w.WriteString(strconv.Itoa(int(p.PayloadFormat)))
			}
		case 'P':
			for j, u := range p.User {
				if j > 0 {
					w.WriteByte(' ')
				}
				w.WriteString(u.Key + ":" + u.Value)
			}
		case 'R':
			w.WriteString(p.ResponseTopic)
		default:
			w.WriteByte('%')
			w.WriteByte(f[i])
		}
	}
}

// messageJSON is the %j (or, with rawPayload, %J) form, with mosquitto_sub's
// keys in its order.
func messageJSON(m *packet.Publish, now time.Time, rawPayload bool) []byte {
	type kv struct {
		k string
		v any
	}
	fields := []kv{
		{"tst", now.Format("2006-01-02T15:04:05.000000-0700")},
		{"topic", m.Topic},
		{"qos", m.QoS},
		{"retain", map[bool]int{false: 0, true: 1}[m.Retain]},
		{"payloadlen", len(m.Payload)},
	}
	if m.QoS > 0 {
		fields = append(fields, kv{"mid", m.PacketID})
	}
	var props []kv
	p := &m.Props
	if len(p.User) > 0 {
		u := map[string]string{}
		for _, up := range p.User {
			u[up.Key] = up.Value
		}
		props = append(props, kv{"user-properties", u})
	}
	if p.PayloadFormat != 0 {
		props = append(props, kv{"payload-format-indicator", p.PayloadFormat})
	}
	if p.ContentType != "" {
		props = append(props, kv{"content-type", p.ContentType})
	}
	if len(p.CorrelationData) > 0 {
		props = append(props, kv{"correlation-data", string(p.CorrelationData)})
	}
	if p.ResponseTopic != "" {
		props = append(props, kv{"response-topic", p.ResponseTopic})
	}
	if p.HasMessageExpiry {
		props = append(props, kv{"message-expiry-interval", p.MessageExpiry})
	}
	var b strings.Builder
	object := func(fields []kv) {
		b.WriteByte('{')
		for i, f := range fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(jsonValue(f.k))
			b.WriteByte(':')
			b.Write(jsonValue(f.v))
		}
	}
	object(fields)
	if len(props) > 0 {
		b.WriteString(`,"properties":`)
		object(props)
		b.WriteByte('}')
	}
	b.WriteString(`,"payload":`)
	if rawPayload && json.Valid(m.Payload) {
		b.Write(m.Payload)
	} else {
		b.Write(jsonValue(string(m.Payload)))
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// jsonValue encodes v as JSON without escaping <, > and &, which
// json.Marshal does for HTML's sake and mosquitto_sub does not.
func jsonValue(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
