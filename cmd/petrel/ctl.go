package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
)

// This file is petrel ctl: the admin API from the command line, with
// tables for people and --json for scripts.

const ctlUsage = `Usage: petrel ctl [flags] COMMAND [ARGS]

Operate a running broker through its admin API.

Commands:
  broker                       the broker: version, uptime, listeners, limits
  stats                        its counters
  clients [-s TEXT] [-u USER] [--network NET]
                               the connected clients
  clients show ID              one client, with its subscriptions
  clients kick ID              disconnect a client (its session stays)
  sessions [--state online|offline] [-s TEXT]
                               sessions, online and offline
  sessions show ID             one session
  sessions delete ID           end a session, disconnecting its client
  subscriptions [--client-id ID] [--filter F] [--topic T]
                               subscriptions
  retained [FILTER]            retained messages (all, or those FILTER matches)
  retained show TOPIC          one retained message, with its payload
  retained delete TOPIC        delete one; --filter F deletes all F matches
  publish -t TOPIC [-m MSG | --base64 B64] [-q QOS] [-r] [--content-type T]
                               publish as the server
  ban                          the bans in force
  ban add (--client-id ID | --username U | --network NET) [--for D] [--reason R]
  ban remove (--client-id ID | --username U | --network NET)
  log [--level LEVEL] [--trace ID | --no-trace]
                               show or change the log level and packet tracing
  reload                       reload files and configuration, as SIGHUP does
  drain [--server-reference HOST:PORT] [--permanent]
                               disconnect every client and stop the broker

Flags:
`

// ctlArgs are the flags every ctl command takes.
type ctlArgs struct {
	url, apiKey, apiKeyFile, user, password string
	json, help                              bool
	limit                                   int
}

func ctlFlags(a *ctlArgs) *pflag.FlagSet {
	fs := pflag.NewFlagSet("petrel ctl", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	fs.SetInterspersed(false)
	fs.StringVar(&a.url, "url", "http://127.0.0.1:18083", "the admin API's `URL`")
	fs.StringVar(&a.apiKey, "api-key", "", "authenticate with API `KEY`")
	fs.StringVar(&a.apiKeyFile, "api-key-file", "", "authenticate with the API key in `FILE`: the key alone, or the\nfirst name:key line of an API keys file")
	fs.StringVarP(&a.user, "user", "u", "", "authenticate as API `USER` of the password file")
	fs.StringVarP(&a.password, "password", "P", "", "the user's `PASSWORD`")
	fs.BoolVar(&a.json, "json", false, "print the API's JSON instead of a table")
	fs.IntVar(&a.limit, "limit", 0, "list at most `N` items (default all)")
	fs.BoolVarP(&a.help, "help", "h", false, "show this help")
	return fs
}

// ctl is petrel ctl.
func ctl(args []string, stdout, stderr io.Writer) int {
	var a ctlArgs
	fs := ctlFlags(&a)
	if err := fs.Parse(args); err != nil {
		return usageError(stderr, fmt.Errorf("ctl: %w", err))
	}
	if a.help {
		fmt.Fprint(stdout, ctlUsage+fs.FlagUsages())
		return 0
	}
	if fs.NArg() == 0 {
		return usageError(stderr, errors.New("ctl: want a command, such as clients or stats"))
	}
	c, err := a.client()
	if err != nil {
		return usageError(stderr, fmt.Errorf("ctl: %w", err))
	}
	c.out = stdout
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	run, ok := ctlCommands[cmd]
	if !ok {
		return usageError(stderr, fmt.Errorf("ctl: unknown command %q", cmd))
	}
	if err := run(c, rest); err != nil {
		var ue usageErr
		if errors.As(err, &ue) {
			return usageError(stderr, fmt.Errorf("ctl %s: %v", cmd, ue.error))
		}
		fmt.Fprintf(stderr, "petrel ctl %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// usageErr is a mistake on the command line, as opposed to a refusal by
// the broker.
type usageErr struct{ error }

func usagef(format string, args ...any) error { return usageErr{fmt.Errorf(format, args...)} }

// ctlClient calls the admin API.
type ctlClient struct {
	base  string
	auth  func(*http.Request)
	http  *http.Client
	json  bool
	limit int
	out   io.Writer
}

func (a *ctlArgs) client() (*ctlClient, error) {
	u, err := url.Parse(a.url)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("--url: want http://host:port, got %q", a.url)
	}
	c := &ctlClient{base: strings.TrimSuffix(a.url, "/"), http: &http.Client{Timeout: time.Minute}, json: a.json, limit: a.limit,
		auth: func(*http.Request) {}}
	key := a.apiKey
	if a.apiKeyFile != "" {
		b, err := os.ReadFile(a.apiKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--api-key-file: %w", err)
		}
		if key = keyIn(string(b)); key == "" {
			return nil, fmt.Errorf("--api-key-file: %s holds no key", a.apiKeyFile)
		}
	}
	switch {
	case key != "" && a.user != "":
		return nil, errors.New("--api-key and --user: give one")
	case key != "":
		c.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) }
	case a.user != "":
		c.auth = func(r *http.Request) { r.SetBasicAuth(a.user, a.password) }
	}
	return c, nil
}

// keyIn finds the key in a file that holds one alone, or in the first
// name:key line of an API keys file.
func keyIn(file string) string {
	for line := range strings.Lines(file) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, key, ok := strings.Cut(line, ":"); ok {
			return strings.TrimSpace(key)
		}
		return line
	}
	return ""
}

// apiError is the broker's refusal.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.msg, e.status) }

// do sends a request and decodes a JSON answer into out, if not nil; it
// returns the answer's bytes.
func (c *ctlClient) do(method, path string, body any, out any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.auth(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the admin API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return data, &apiError{status: resp.StatusCode, msg: e.Error}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return data, fmt.Errorf("the admin API's answer: %w", err)
		}
	}
	return data, nil
}

// list fetches every page of a list, up to the --limit.
func (c *ctlClient) list(path string, q url.Values) ([]map[string]any, error) {
	var items []map[string]any
	for {
		if c.limit > 0 {
			q.Set("limit", strconv.Itoa(min(c.limit-len(items), 1000)))
		} else {
			q.Set("limit", "1000")
		}
		var p struct {
			Items []map[string]any `json:"items"`
			Next  string           `json:"next"`
		}
		if _, err := c.do("GET", path+"?"+q.Encode(), nil, &p); err != nil {
			return nil, err
		}
		items = append(items, p.Items...)
		if p.Next == "" || c.limit > 0 && len(items) >= c.limit {
			return items, nil
		}
		q.Set("after", p.Next)
	}
}

// printJSON prints v indented.
func (c *ctlClient) printJSON(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// column is one column of a table: its heading and how to show an item's
// value.
type column struct {
	head string
	show func(map[string]any) string
}

// field shows an item's field as it is.
func field(head, key string) column {
	return column{head, func(m map[string]any) string { return text(m[key]) }}
}

// text shows a JSON value in a table cell.
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case string:
		if v == "" {
			return "-"
		}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t.Local().Format("2006-01-02 15:04:05")
		}
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		if v {
			return "yes"
		}
		return "no"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// seconds shows a duration in seconds, -1 meaning never.
func seconds(head, key string) column {
	return column{head, func(m map[string]any) string {
		n, ok := m[key].(float64)
		switch {
		case !ok:
			return "-"
		case n < 0:
			return "never"
		}
		return (time.Duration(n) * time.Second).String()
	}}
}

// table prints items in columns, or as JSON.
func (c *ctlClient) table(items []map[string]any, cols ...column) error {
	if c.json {
		if items == nil {
			items = []map[string]any{}
		}
		return c.printJSON(items)
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	heads := make([]string, len(cols))
	for i, col := range cols {
		heads[i] = col.head
	}
	fmt.Fprintln(tw, strings.Join(heads, "\t"))
	for _, it := range items {
		cells := make([]string, len(cols))
		for i, col := range cols {
			cells[i] = col.show(it)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// object prints one object as key: value lines, nested objects indented,
// or as JSON.
func (c *ctlClient) object(data []byte) error {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(m)
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	writeObject(tw, m, "")
	return tw.Flush()
}

func writeObject(w io.Writer, m map[string]any, indent string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Sorted, so each key is in the same place every time.
	slices.Sort(keys)
	for _, k := range keys {
		switch v := m[k].(type) {
		case map[string]any:
			fmt.Fprintf(w, "%s%s:\n", indent, k)
			writeObject(w, v, indent+"  ")
		case []any:
			if len(v) == 0 {
				fmt.Fprintf(w, "%s%s:\t-\n", indent, k)
				continue
			}
			fmt.Fprintf(w, "%s%s:\n", indent, k)
			for _, it := range v {
				if o, ok := it.(map[string]any); ok {
					fmt.Fprintf(w, "%s  -\n", indent)
					writeObject(w, o, indent+"    ")
				} else {
					fmt.Fprintf(w, "%s  - %s\n", indent, text(it))
				}
			}
		default:
			fmt.Fprintf(w, "%s%s:\t%s\n", indent, k, text(v))
		}
	}
}

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
