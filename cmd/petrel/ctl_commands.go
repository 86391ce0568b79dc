package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/pflag"
)

// This file holds petrel ctl's commands, one function each.

// subFlags is a flag set for one ctl command's own flags.
func subFlags(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("petrel ctl "+name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses a command's flags and checks how many arguments remain.
func parse(fs *pflag.FlagSet, args []string, minArgs, maxArgs int) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, usageErr{err}
	}
	if n := fs.NArg(); n < minArgs || n > maxArgs {
		return nil, usagef("want %d to %d arguments, got %q", minArgs, maxArgs, fs.Args())
	}
	return fs.Args(), nil
}

// path escapes one path segment: a client id or topic, / included.
func path(prefix, s string) string { return prefix + url.PathEscape(s) }

var ctlCommands = map[string]func(c *ctlClient, args []string) error{
	"broker":        func(c *ctlClient, args []string) error { return c.show(args, "/api/v1/broker") },
	"stats":         func(c *ctlClient, args []string) error { return c.show(args, "/api/v1/stats") },
	"clients":       (*ctlClient).clients,
	"sessions":      (*ctlClient).sessions,
	"subscriptions": (*ctlClient).subscriptions,
	"retained":      (*ctlClient).retained,
	"publish":       (*ctlClient).publish,
	"ban":           (*ctlClient).ban,
	"log":           (*ctlClient).logSettings,
	"reload":        (*ctlClient).reload,
	"drain":         (*ctlClient).drain,
}

// show prints one object the API answers at p.
func (c *ctlClient) show(args []string, p string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args)
	}
	data, err := c.do("GET", p, nil, nil)
	if err != nil {
		return err
	}
	return c.object(data)
}

func (c *ctlClient) clients(args []string) error {
	if len(args) > 0 && (args[0] == "show" || args[0] == "kick") {
		if len(args) != 2 {
			return usagef("%s: want one client id", args[0])
		}
		if args[0] == "show" {
			return c.show(nil, path("/api/v1/clients/", args[1]))
		}
		if _, err := c.do("DELETE", path("/api/v1/clients/", args[1]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "disconnected %s\n", args[1])
		return nil
	}
	fs := subFlags("clients")
	search := fs.StringP("search", "s", "", "clients whose id or user name contains `TEXT`")
	user := fs.StringP("username", "u", "", "clients of `USER`")
	network := fs.String("network", "", "clients whose address is in `NET`")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"search": *search, "username": *user, "network": *network} {
		if v != "" {
			q.Set(k, v)
		}
	}
	items, err := c.list("/api/v1/clients", q)
	if err != nil {
		return err
	}
	return c.table(items, field("CLIENT ID", "client_id"), field("USERNAME", "username"), field("ADDRESS", "address"),
		field("PROTOCOL", "protocol"), seconds("KEEP-ALIVE", "keep_alive"), field("SUBS", "subscriptions"),
		field("QUEUED", "queued"), field("INFLIGHT", "inflight"), field("CONNECTED", "connected_at"))
}

func (c *ctlClient) sessions(args []string) error {
	if len(args) > 0 && (args[0] == "show" || args[0] == "delete") {
		if len(args) != 2 {
			return usagef("%s: want one client id", args[0])
		}
		if args[0] == "show" {
			return c.show(nil, path("/api/v1/sessions/", args[1]))
		}
		if _, err := c.do("DELETE", path("/api/v1/sessions/", args[1]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "deleted the session of %s\n", args[1])
		return nil
	}
	fs := subFlags("sessions")
	search := fs.StringP("search", "s", "", "sessions whose client id contains `TEXT`")
	state := fs.String("state", "", "only online or offline sessions")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	q := url.Values{}
	if *search != "" {
		q.Set("search", *search)
	}
	if *state != "" {
		q.Set("state", *state)
	}
	items, err := c.list("/api/v1/sessions", q)
	if err != nil {
		return err
	}
	online := column{"STATE", func(m map[string]any) string {
		if m["online"] == true {
			return "online"
		}
		return "offline"
	}}
	return c.table(items, field("CLIENT ID", "client_id"), online, field("PROTOCOL", "protocol"), seconds("EXPIRY", "expiry"),
		field("SUBS", "subscriptions"), field("QUEUED", "queued"), field("INFLIGHT", "inflight"), field("EXPIRES", "expires_at"))
}

func (c *ctlClient) subscriptions(args []string) error {
	fs := subFlags("subscriptions")
	id := fs.String("client-id", "", "one client's subscriptions")
	filter := fs.String("filter", "", "the subscriptions to exactly `FILTER`")
	topic := fs.String("topic", "", "the subscriptions a message on `TOPIC` reaches")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"client_id": *id, "filter": *filter, "topic": *topic} {
		if v != "" {
			q.Set(k, v)
		}
	}
	items, err := c.list("/api/v1/subscriptions", q)
	if err != nil {
		return err
	}
	return c.table(items, field("CLIENT ID", "client_id"), field("FILTER", "filter"), field("QOS", "qos"),
		field("NO LOCAL", "no_local"), field("RETAIN AS PUBLISHED", "retain_as_published"), field("ID", "identifier"))
}

func (c *ctlClient) retained(args []string) error {
	if len(args) > 0 && args[0] == "show" {
		if len(args) != 2 {
			return usagef("show: want one topic")
		}
		var m map[string]any
		data, err := c.do("GET", path("/api/v1/retained/", args[1]), nil, &m)
		if err != nil || c.json {
			if err == nil {
				err = c.object(data)
			}
			return err
		}
		payload := m["payload"]
		delete(m, "payload")
		delete(m, "payload_base64")
		b, _ := json.Marshal(m)
		if err := c.object(b); err != nil {
			return err
		}
		if s, ok := payload.(string); ok {
			fmt.Fprintf(c.out, "\n%s\n", s)
		} else {
			fmt.Fprintln(c.out, "\n(the payload is not UTF-8 text: see --json for it in base64)")
		}
		return nil
	}
	if len(args) > 0 && args[0] == "delete" {
		fs := subFlags("retained delete")
		filter := fs.String("filter", "", "delete every retained message `FILTER` matches")
		rest, err := parse(fs, args[1:], 0, 1)
		if err != nil {
			return err
		}
		switch {
		case (*filter == "") == (len(rest) == 0):
			return usagef("delete: want a topic or --filter")
		case *filter != "":
			var d struct {
				Deleted int `json:"deleted"`
			}
			if _, err := c.do("DELETE", "/api/v1/retained?filter="+url.QueryEscape(*filter), nil, &d); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "deleted %d retained messages\n", d.Deleted)
			return nil
		}
		if _, err := c.do("DELETE", path("/api/v1/retained/", rest[0]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "deleted the retained message of %s\n", rest[0])
		return nil
	}
	fs := subFlags("retained")
	rest, err := parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	q := url.Values{}
	if len(rest) == 1 {
		q.Set("filter", rest[0])
	}
	items, err := c.list("/api/v1/retained", q)
	if err != nil {
		return err
	}
	return c.table(items, field("TOPIC", "topic"), field("QOS", "qos"), field("BYTES", "payload_bytes"),
		field("CONTENT TYPE", "content_type"), field("PUBLISHER", "publisher"), field("EXPIRES", "expires_at"))
}

func (c *ctlClient) publish(args []string) error {
	fs := subFlags("publish")
	topic := fs.StringP("topic", "t", "", "the `TOPIC`")
	msg := fs.StringP("message", "m", "", "the payload, as text")
	b64 := fs.String("base64", "", "the payload, in base64")
	qos := fs.IntP("qos", "q", 0, "the QoS: 0, 1 or 2")
	retain := fs.BoolP("retain", "r", false, "retain the message")
	contentType := fs.String("content-type", "", "MQTT 5 Content Type")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *topic == "" {
		return usagef("want -t TOPIC")
	}
	if *qos < 0 || *qos > 2 {
		return usagef("-q: want 0, 1 or 2, got %d", *qos)
	}
	req := map[string]any{"topic": *topic, "qos": *qos, "retain": *retain}
	switch {
	case fs.Changed("message") && fs.Changed("base64"):
		return usagef("-m and --base64: give one")
	case fs.Changed("base64"):
		if _, err := base64.StdEncoding.DecodeString(*b64); err != nil {
			return usagef("--base64: %v", err)
		}
		req["payload_base64"] = *b64
	default:
		req["payload"] = *msg
	}
	if *contentType != "" {
		req["content_type"] = *contentType
	}
	var out struct {
		Delivered int `json:"delivered"`
	}
	data, err := c.do("POST", "/api/v1/publish", req, &out)
	if err != nil {
		return err
	}
	if c.json {
		return c.object(data)
	}
	fmt.Fprintf(c.out, "published to %s: delivered to %d sessions\n", *topic, out.Delivered)
	return nil
}

// banTarget is the one target the ban commands name.
type banTarget struct {
	clientID, username, network *string
}

func banFlags(fs *pflag.FlagSet) banTarget {
	return banTarget{
		clientID: fs.String("client-id", "", "the client `ID`"),
		username: fs.String("username", "", "the user name `USER`"),
		network:  fs.String("network", "", "the address or network `NET`, such as 10.0.0.0/8"),
	}
}

func (b banTarget) set() (key, value string, err error) {
	n := 0
	for _, t := range []struct{ k, v string }{{"client_id", *b.clientID}, {"username", *b.username}, {"network", *b.network}} {
		if t.v != "" {
			key, value = t.k, t.v
			n++
		}
	}
	if n != 1 {
		return "", "", usagef("want one of --client-id, --username and --network")
	}
	return key, value, nil
}

func (c *ctlClient) ban(args []string) error {
	sub := "list"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "list":
		if _, err := parse(subFlags("ban"), args, 0, 0); err != nil {
			return err
		}
		items, err := c.list("/api/v1/bans", url.Values{})
		if err != nil {
			return err
		}
		return c.table(items, field("CLIENT ID", "client_id"), field("USERNAME", "username"), field("NETWORK", "network"),
			field("UNTIL", "until"), field("REASON", "reason"))
	case "add":
		fs := subFlags("ban add")
		target := banFlags(fs)
		dur := fs.String("for", "", "lift the ban after `DURATION`, such as 30m or 24h (default never)")
		reason := fs.String("reason", "", "why, for operators and logs")
		if _, err := parse(fs, args, 0, 0); err != nil {
			return err
		}
		key, value, err := target.set()
		if err != nil {
			return err
		}
		req := map[string]any{key: value}
		if *dur != "" {
			req["duration"] = *dur
		}
		if *reason != "" {
			req["reason"] = *reason
		}
		data, err := c.do("POST", "/api/v1/bans", req, nil)
		if err != nil {
			return err
		}
		if c.json {
			return c.object(data)
		}
		fmt.Fprintf(c.out, "banned %s %s\n", strings.ReplaceAll(key, "_", " "), value)
		return nil
	case "remove":
		fs := subFlags("ban remove")
		target := banFlags(fs)
		if _, err := parse(fs, args, 0, 0); err != nil {
			return err
		}
		key, value, err := target.set()
		if err != nil {
			return err
		}
		if _, err := c.do("DELETE", "/api/v1/bans?"+url.Values{key: {value}}.Encode(), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "lifted the ban on %s %s\n", strings.ReplaceAll(key, "_", " "), value)
		return nil
	}
	return usagef("want list, add or remove, got %q", sub)
}

func (c *ctlClient) logSettings(args []string) error {
	fs := subFlags("log")
	level := fs.String("level", "", "log at `LEVEL`: debug, info, warn or error")
	trace := fs.String("trace", "", "log the packets of client `ID`, payloads included")
	noTrace := fs.Bool("no-trace", false, "stop tracing")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	req := map[string]any{}
	if *level != "" {
		req["level"] = *level
	}
	switch {
	case *trace != "" && *noTrace:
		return usagef("--trace and --no-trace: give one")
	case *trace != "":
		req["trace_client_id"] = *trace
	case *noTrace:
		req["trace_client_id"] = ""
	}
	method, body := "GET", any(nil)
	if len(req) > 0 {
		method, body = "PUT", req
	}
	data, err := c.do(method, "/api/v1/log", body, nil)
	if err != nil {
		return err
	}
	return c.object(data)
}

func (c *ctlClient) reload(args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args)
	}
	data, err := c.do("POST", "/api/v1/reload", nil, nil)
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusUnprocessableEntity {
		// The report says what failed; print it, and fail.
		if err := c.object(data); err != nil {
			return err
		}
		return errors.New("some files or settings failed to load; the ones in use stay")
	}
	if err != nil {
		return err
	}
	return c.object(data)
}

func (c *ctlClient) drain(args []string) error {
	fs := subFlags("drain")
	ref := fs.String("server-reference", "", "send MQTT 5 clients to `HOST:PORT`")
	permanent := fs.Bool("permanent", false, "tell clients the move is permanent (Server Moved)")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	req := map[string]any{}
	if *ref != "" {
		req["server_reference"] = *ref
	}
	if *permanent {
		req["permanent"] = true
	}
	data, err := c.do("POST", "/api/v1/drain", req, nil)
	if err != nil {
		return err
	}
	if c.json {
		return c.object(data)
	}
	fmt.Fprintln(c.out, "draining: clients are being disconnected, and the broker stops when they are gone")
	return nil
}
