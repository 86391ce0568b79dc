package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
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
