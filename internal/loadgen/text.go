package loadgen

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// WriteText writes the report for a person to read.
func (rep *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-17s"+format+"\n", append([]any{label}, args...)...)
	}
	fmt.Fprintf(&b, "petrel bench %s: %s, MQTT %s over %s to %s\n\n", rep.Scenario, rep.shape(), rep.Version, rep.Transport, rep.Server)
	if c := rep.Connections; c != nil {
		line("connected", "%s of %s in %s (%s a second)", Count(c.Established), Count(c.Attempted), seconds(c.Seconds), Count(int64(c.PerSecond)))
		if rep.ConnectLatency != nil {
			line("connect latency", "%s", rep.ConnectLatency.summary())
		}
	} else {
		line("published", "%s messages in %s, %s a second", Count(rep.Sent), seconds(rep.Seconds), Count(int64(rep.SentPerSecond)))
		if rep.Subscribers > 0 {
			line("received", "%s messages in %s, %s a second", Count(rep.Received), seconds(rep.ReceivedSeconds), Count(int64(rep.ReceivedPerSecond)))
		}
		if len(rep.ByQoS) > 0 {
			fmt.Fprintf(&b, "  %-17s%14s %14s %12s %12s\n", "QoS", "expected", "received", "lost", "duplicates")
			for _, q := range rep.ByQoS {
				fmt.Fprintf(&b, "  %-17d%14s %14s %12s %12s\n", q.QoS, Count(q.Expected), Count(q.Received), Count(q.Lost), Count(q.Duplicates))
			}
			if rep.Inferred {
				b.WriteString("  (expected: every sequence number from the first to the last heard of each publisher)\n")
			}
		}
		if rep.Unexpected > 0 {
			line("unexpected", "%s deliveries no subscription of this run called for (a session left from an earlier run?)", Count(rep.Unexpected))
		}
		if rep.Foreign > 0 {
			line("foreign", "%s messages from elsewhere, not counted", Count(rep.Foreign))
		}
		if rep.Latency != nil {
			line("latency", "%s", rep.Latency.summary())
		}
		if rep.AckLatency != nil {
			line("ack latency", "%s", rep.AckLatency.summary())
		}
		if rep.Refused > 0 {
			line("refused", "%s messages, by a failure reason code", Count(rep.Refused))
		}
	}
	for _, p := range []struct {
		name string
		p    *Process
	}{{"broker", rep.Broker}, {"bench", rep.Bench}} {
		if p.p == nil {
			continue
		}
		s := fmt.Sprintf("%.2f s CPU (%.2f cores)", p.p.CPUSeconds, p.p.Cores)
		switch {
		case p.p.CPUPerMessage > 0:
			s += fmt.Sprintf(", %.2f µs per message", p.p.CPUPerMessage)
		case p.p.CPUPerConnection > 0:
			s += fmt.Sprintf(", %.0f µs per connection", p.p.CPUPerConnection)
		}
		if rep.Connections != nil {
			s += fmt.Sprintf("; memory %s to %s, %s per connection", size(float64(p.p.RSSBefore)), size(float64(p.p.RSSAfter)), size(p.p.RSSPerConnection))
		}
		line(p.name, "%s", s)
	}
	if rep.Errors == 0 {
		line("errors", "none")
	} else {
		line("errors", "%s", Count(rep.Errors))
		for _, e := range rep.ErrorSamples {
			fmt.Fprintf(&b, "    %s\n", e)
		}
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(&b, "\nFAILED: %s", f)
	}
	if len(rep.Failures) > 0 {
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// shape says who took part.
func (rep *Report) shape() string {
	if rep.Scenario == Conn {
		if rep.IdleFilter != "" {
			return plural(rep.Clients, "connection") + ", each subscribed to " + rep.IdleFilter
		}
		return plural(rep.Clients, "connection")
	}
	var parts []string
	switch {
	case rep.Publishers > 0 && rep.Subscribers > 0:
		parts = append(parts, plural(rep.Publishers, "publisher")+" to "+plural(rep.Subscribers, "subscriber"))
	case rep.Publishers > 0:
		parts = append(parts, plural(rep.Publishers, "publisher"))
	default:
		parts = append(parts, plural(rep.Subscribers, "subscriber"))
	}
	qos := make([]string, len(rep.QoS))
	for i, q := range rep.QoS {
		qos[i] = strconv.Itoa(q)
	}
	if rep.Publishers > 0 {
		parts = append(parts, "QoS "+strings.Join(qos, ","), fmt.Sprintf("%d-byte payloads", rep.PayloadSize))
		if rep.Rate > 0 {
			parts = append(parts, fmt.Sprintf("%g msg/s each", rep.Rate))
		}
	} else if rep.SubQoS != nil {
		parts = append(parts, fmt.Sprintf("QoS %d", *rep.SubQoS))
	}
	return strings.Join(parts, ", ")
}

func (l *Latency) summary() string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%s samples)",
		us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max), Count(int64(l.Count)))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// us formats microseconds as a duration with three significant digits.
func us(v float64) string {
	d := time.Duration(v * float64(time.Microsecond))
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", v)
	case d < time.Second:
		return fmt.Sprintf("%.3g ms", v/1e3)
	}
	return fmt.Sprintf("%.3g s", v/1e6)
}

func seconds(s float64) string { return fmt.Sprintf("%.2f s", s) }

// Count formats n with thousands separators, as the reports write counts.
func Count(n int64) string {
	s := strconv.FormatInt(max(n, -n), 10)
	var b strings.Builder
	if n < 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func size(bytes float64) string {
	switch {
	case bytes >= 1<<30 || bytes <= -1<<30:
		return fmt.Sprintf("%.1f GiB", bytes/(1<<30))
	case bytes >= 1<<20 || bytes <= -1<<20:
		return fmt.Sprintf("%.1f MiB", bytes/(1<<20))
	case bytes >= 1<<10 || bytes <= -1<<10:
		return fmt.Sprintf("%.1f KiB", bytes/(1<<10))
	}
	return fmt.Sprintf("%.0f B", bytes)
}
