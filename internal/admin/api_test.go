package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/client"
	"github.com/petrelmq/petrel/internal/admin"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
	"github.com/petrelmq/petrel/store/memstore"
)

const (
	wait   = 5 * time.Second
	apiKey = "0123456789abcdef0123456789abcdef"
)

// spec is the OpenAPI document, loaded and checked once.
var spec = sync.OnceValues(func() (routers.Router, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(admin.OpenAPI)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is not valid: %w", err)
	}
	return legacyrouter.NewRouter(doc)
})

// validating checks every request against the OpenAPI document and every
// response too: a request the document calls invalid must be refused
// with 400, and every response must be one the document describes.
type validating struct {
	t *testing.T
}

func (v validating) RoundTrip(req *http.Request) (*http.Response, error) {
	router, err := spec()
	if err != nil {
		v.t.Fatal(err)
	}
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	// The router matches on the path as sent, where a %2F stays inside
	// one segment as the server sees it.
	routed := req.Clone(req.Context())
	routed.URL.Path = req.URL.EscapedPath()
	routed.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := router.FindRoute(routed)
	if err != nil {
		v.t.Errorf("%s %s is not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
		return http.DefaultTransport.RoundTrip(req)
	}
	in := &openapi3filter.RequestValidationInput{Request: routed, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	reqErr := openapi3filter.ValidateRequest(req.Context(), in)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if reqErr != nil && resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnauthorized {
		v.t.Errorf("%s %s breaks the OpenAPI document (%v) but was answered %s", req.Method, req.URL, reqErr, resp.Status)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(respBody)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		v.t.Errorf("%s %s: the answer %s %s breaks the OpenAPI document: %v", req.Method, req.URL, resp.Status, respBody, err)
	}
	return resp, nil
}

// env is a broker with its admin API.
type env struct {
	t      *testing.T
	b      *brokertest.Broker
	url    string
	http   *http.Client
	level  *slog.LevelVar
	drains []broker.DrainOptions
	mu     sync.Mutex
	report admin.ReloadReport
}

func start(t *testing.T, mutate ...func(*admin.Options)) *env {
	t.Helper()
	b := brokertest.Start(t, broker.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SysInterval: -1, Store: memstore.New()})
	keys := filepath.Join(t.TempDir(), "api-keys")
	if err := os.WriteFile(keys, []byte("# keys\nci: "+apiKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := admin.OpenKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, b: b, level: new(slog.LevelVar)}
	passwords := plugin.AuthenticatorFunc(func(_ context.Context, c *plugin.Client, cred plugin.Credentials) error {
		if (c.Username == "ops" || c.Username == "mqtt-user") && string(cred.Password) == "secret" {
			return nil
		}
		return packet.BadUserNameOrPassword
	})
	o := admin.Options{
		Server:   b.Server,
		Version:  "petrel test",
		Guard:    &admin.Guard{Keys: k, Passwords: passwords, Users: []string{"ops"}},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		LogLevel: e.level,
		Reload: func(context.Context) admin.ReloadReport {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.report
		},
		Drain: func(d broker.DrainOptions) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			if len(e.drains) > 0 {
				return errors.New("already draining")
			}
			e.drains = append(e.drains, d)
			return nil
		},
	}
	for _, m := range mutate {
		m(&o)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", admin.New(o))
	mux.Handle("/", admin.Health(b.Ready))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.http = &http.Client{Transport: validating{t}}
	return e
}

// call makes a request with the API key and decodes a JSON answer into
// out, if not nil. It returns the status.
func (e *env) call(method, path string, body any, out any) int {
	e.t.Helper()
	return e.callAs(method, path, body, out, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+apiKey) })
}

func (e *env) callAs(method, path string, body any, out any, auth func(*http.Request)) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: %s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// want fails the test unless status is the one expected.
func (e *env) want(status, expected int, what string) {
	e.t.Helper()
	if status != expected {
		e.t.Errorf("%s: status %d, want %d", what, status, expected)
	}
}

func (e *env) mqtt(id string, mutate ...func(*client.Options)) *client.Client {
	e.t.Helper()
	o := client.Options{Addr: e.b.Addr, ClientID: id, CleanStart: true}
	for _, m := range mutate {
		m(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Dial(ctx, o)
	if err != nil {
		e.t.Fatalf("%s: %v", id, err)
	}
	e.t.Cleanup(func() { c.Disconnect(context.Background(), packet.Success) })
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type page[T any] struct {
	Items []T    `json:"items"`
	Total int    `json:"total"`
	Next  string `json:"next"`
}

type errorBody struct {
	Error string `json:"error"`
}

func TestAuthentication(t *testing.T) {
	e := start(t)
	basic := func(user, password string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(user, password) }
	}
	bearer := func(key string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) }
	}
	for _, tc := range []struct {
		name string
		auth func(*http.Request)
		want int
	}{
		{"no credentials", nil, http.StatusUnauthorized},
		{"unknown key", bearer("not-the-key-at-all-not-the-key"), http.StatusUnauthorized},
		{"API key", bearer(apiKey), http.StatusOK},
		{"API user", basic("ops", "secret"), http.StatusOK},
		{"API user, wrong password", basic("ops", "guess"), http.StatusUnauthorized},
		{"a user of the password file who is no API user", basic("mqtt-user", "secret"), http.StatusUnauthorized},
		{"another scheme", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var eb errorBody
			status := e.callAs("GET", "/api/v1/stats", nil, &eb, tc.auth)
			e.want(status, tc.want, tc.name)
			if status == http.StatusUnauthorized && eb.Error == "" {
				t.Error("a refusal without an error message")
			}
		})
	}
	// Changes are guarded as reads are.
	e.want(e.callAs("DELETE", "/api/v1/sessions/x", nil, nil, nil), http.StatusUnauthorized, "DELETE without credentials")
	e.want(e.callAs("POST", "/api/v1/drain", nil, nil, nil), http.StatusUnauthorized, "drain without credentials")
	// The document, health and readiness need none.
	var doc map[string]any
	e.want(e.callAs("GET", "/api/v1/openapi.json", nil, &doc, nil), http.StatusOK, "openapi.json")
	if doc["openapi"] != "3.0.3" {
		t.Errorf("openapi.json says openapi %v", doc["openapi"])
	}
	e.want(e.callAs("GET", "/healthz", nil, nil, nil), http.StatusOK, "healthz")
	eventually(t, "the broker is ready", func() bool { return e.callAs("GET", "/readyz", nil, nil, nil) == http.StatusOK })

	open := start(t, func(o *admin.Options) { o.Guard = &admin.Guard{Open: true} })
	open.want(open.callAs("GET", "/api/v1/stats", nil, nil, nil), http.StatusOK, "an open API without credentials")
	none := start(t, func(o *admin.Options) { o.Guard = nil })
	none.want(none.call("GET", "/api/v1/stats", nil, nil), http.StatusUnauthorized, "an API with no guard")
}

func TestKeysFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	for _, bad := range []string{"no-colon-here-0123456789\n", "short: 0123\n", ": 0123456789abcdef0123\n"} {
		os.WriteFile(path, []byte(bad), 0o600)
		if _, err := admin.OpenKeys(path); err == nil || !strings.Contains(err.Error(), path+":1") {
			t.Errorf("OpenKeys(%q): %v, want an error naming %s:1", bad, err, path)
		}
	}
	if _, err := admin.OpenKeys(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("OpenKeys of a missing file succeeded")
	}
}

func TestKeysReload(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(keys, []byte("a: aaaaaaaaaaaaaaaaaaaa\n"), 0o600)
	k, err := admin.OpenKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	e2 := start(t, func(o *admin.Options) { o.Guard = &admin.Guard{Keys: k} })
	as := func(key string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) }
	}
	e2.want(e2.callAs("GET", "/api/v1/stats", nil, nil, as("aaaaaaaaaaaaaaaaaaaa")), http.StatusOK, "key a")
	os.WriteFile(keys, []byte("b: bbbbbbbbbbbbbbbbbbbb\n"), 0o600)
	if err := k.Reload(); err != nil {
		t.Fatal(err)
	}
	e2.want(e2.callAs("GET", "/api/v1/stats", nil, nil, as("aaaaaaaaaaaaaaaaaaaa")), http.StatusUnauthorized, "key a after its removal")
	e2.want(e2.callAs("GET", "/api/v1/stats", nil, nil, as("bbbbbbbbbbbbbbbbbbbb")), http.StatusOK, "key b after its addition")
	os.WriteFile(keys, []byte("broken\n"), 0o600)
	if err := k.Reload(); err == nil {
		t.Error("Reload of a broken file succeeded")
	}
	e2.want(e2.callAs("GET", "/api/v1/stats", nil, nil, as("bbbbbbbbbbbbbbbbbbbb")), http.StatusOK, "key b after a failed reload")
}

func TestBrokerAndStats(t *testing.T) {
	e := start(t)
	sub := e.mqtt("sub")
	ctx := context.Background()
	if _, err := sub.Subscribe(ctx, packet.Subscription{Filter: "s/#", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	pub := e.mqtt("pub")
	for range 3 {
		pub.Publish(ctx, &packet.Publish{Topic: "s/1", QoS: 1, Payload: []byte("v")})
	}
	for range 3 {
		<-sub.Messages()
	}
	var info struct {
		Version   string   `json:"version"`
		Listeners []string `json:"listeners"`
		Ready     bool     `json:"ready"`
		Limits    struct {
			AuthFailureLimit int `json:"auth_failure_limit"`
		} `json:"limits"`
	}
	e.want(e.call("GET", "/api/v1/broker", nil, &info), http.StatusOK, "broker")
	if info.Version != "petrel test" || len(info.Listeners) != 1 || !info.Ready || info.Limits.AuthFailureLimit != 10 {
		t.Errorf("broker: %+v", info)
	}
	var st struct {
		Sessions int `json:"sessions"`
		Received struct {
			QoS1 int `json:"1"`
		} `json:"messages_received"`
		Latency struct {
			Count int `json:"count"`
		} `json:"delivery_latency"`
	}
	e.want(e.call("GET", "/api/v1/stats", nil, &st), http.StatusOK, "stats")
	if st.Sessions != 2 || st.Received.QoS1 != 3 || st.Latency.Count != 3 {
		t.Errorf("stats: %+v", st)
	}
}

type apiClient struct {
	ClientID      string  `json:"client_id"`
	Username      *string `json:"username"`
	Protocol      string  `json:"protocol"`
	KeepAlive     int     `json:"keep_alive"`
	SessionExpiry int     `json:"session_expiry"`
	Subscriptions int     `json:"subscriptions"`
	Filters       []struct {
		Filter string `json:"filter"`
		QoS    int    `json:"qos"`
	} `json:"filters"`
}

func TestClientsPaginated(t *testing.T) {
	e := start(t)
	for i := range 5 {
		e.mqtt(fmt.Sprintf("c%d", i), func(o *client.Options) {
			if i == 0 {
				o.Username = "alice"
			}
		})
	}
	var ids []string
	after := ""
	for pages := 0; ; pages++ {
		var p page[apiClient]
		e.want(e.call("GET", "/api/v1/clients?limit=2&after="+after, nil, &p), http.StatusOK, "clients")
		if p.Total != 5 {
			t.Fatalf("total %d, want 5", p.Total)
		}
		for _, c := range p.Items {
			ids = append(ids, c.ClientID)
		}
		if p.Next == "" {
			if pages != 2 {
				t.Errorf("%d pages of 2 for 5 clients, want 3", pages+1)
			}
			break
		}
		after = url.QueryEscape(p.Next)
	}
	if got := strings.Join(ids, " "); got != "c0 c1 c2 c3 c4" {
		t.Errorf("pages gave %q", got)
	}
	for _, q := range []struct {
		query string
		want  string
	}{
		{"search=c3", "c3"},
		{"search=alic", "c0"},
		{"username=alice", "c0"},
		{"network=127.0.0.1", "c0 c1 c2 c3 c4"},
		{"network=10.0.0.0/8", ""},
	} {
		var p page[apiClient]
		e.want(e.call("GET", "/api/v1/clients?"+q.query, nil, &p), http.StatusOK, q.query)
		var got []string
		for _, c := range p.Items {
			got = append(got, c.ClientID)
		}
		if strings.Join(got, " ") != q.want {
			t.Errorf("%s: %q, want %q", q.query, got, q.want)
		}
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "after=%25%25", "network=nowhere"} {
		var eb errorBody
		e.want(e.call("GET", "/api/v1/clients?"+bad, nil, &eb), http.StatusBadRequest, bad)
		if eb.Error == "" {
			t.Errorf("%s: no error message", bad)
		}
	}
}

func TestClientDetailAndKick(t *testing.T) {
	e := start(t)
	c := e.mqtt("dev/1", func(o *client.Options) { o.KeepAlive = 30 * time.Second; o.SessionExpiry = 60 })
	if _, err := c.Subscribe(context.Background(), packet.Subscription{Filter: "cmd/dev/1", QoS: 2}); err != nil {
		t.Fatal(err)
	}
	var got apiClient
	e.want(e.call("GET", "/api/v1/clients/dev%2F1", nil, &got), http.StatusOK, "one client")
	if got.ClientID != "dev/1" || got.Protocol != "5.0" || got.KeepAlive != 30 || got.SessionExpiry != 60 ||
		got.Subscriptions != 1 || len(got.Filters) != 1 || got.Filters[0].Filter != "cmd/dev/1" || got.Filters[0].QoS != 2 || got.Username != nil {
		t.Errorf("client: %+v", got)
	}
	e.want(e.call("GET", "/api/v1/clients/nobody", nil, nil), http.StatusNotFound, "an unknown client")
	e.want(e.call("DELETE", "/api/v1/clients/dev%2F1", nil, nil), http.StatusNoContent, "kick")
	select {
	case <-c.Done():
		var re *client.ReasonError
		if !errors.As(c.Err(), &re) || re.Code != packet.AdministrativeAction {
			t.Errorf("the kicked client ended with %v, want Administrative Action", c.Err())
		}
	case <-time.After(wait):
		t.Fatal("the kicked client is still connected")
	}
	eventually(t, "the kicked client is gone", func() bool {
		return e.call("GET", "/api/v1/clients/dev%2F1", nil, nil) == http.StatusNotFound
	})
	e.want(e.call("DELETE", "/api/v1/clients/dev%2F1", nil, nil), http.StatusNotFound, "kick again")
	var s struct {
		Online bool `json:"online"`
	}
	e.want(e.call("GET", "/api/v1/sessions/dev%2F1", nil, &s), http.StatusOK, "the kicked client's session")
	if s.Online {
		t.Error("the kicked client's session is online")
	}
}

func TestSessions(t *testing.T) {
	e := start(t)
	keep := e.mqtt("keeper", func(o *client.Options) { o.SessionExpiry = 3600; o.CleanStart = false })
	if _, err := keep.Subscribe(context.Background(), packet.Subscription{Filter: "k", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	keep.Disconnect(context.Background(), packet.Success)
	e.mqtt("online")
	eventually(t, "keeper is offline", func() bool { s, ok := e.b.Session("keeper"); return ok && !s.Online })
	e.mqtt("pub").Publish(context.Background(), &packet.Publish{Topic: "k", QoS: 1, Payload: []byte("for later")})

	type apiSession struct {
		ClientID     string     `json:"client_id"`
		Online       bool       `json:"online"`
		Expiry       int        `json:"expiry"`
		OfflineSince *time.Time `json:"offline_since"`
		ExpiresAt    *time.Time `json:"expires_at"`
		Queued       int        `json:"queued"`
	}
	for _, q := range []struct {
		query, want string
	}{
		{"", "keeper online pub"},
		{"?state=offline", "keeper"},
		{"?state=online", "online pub"},
		{"?search=line", "online"},
	} {
		var p page[apiSession]
		e.want(e.call("GET", "/api/v1/sessions"+q.query, nil, &p), http.StatusOK, "sessions"+q.query)
		var ids []string
		for _, s := range p.Items {
			ids = append(ids, s.ClientID)
		}
		if strings.Join(ids, " ") != q.want {
			t.Errorf("sessions%s: %q, want %q", q.query, ids, q.want)
		}
	}
	e.want(e.call("GET", "/api/v1/sessions?state=asleep", nil, nil), http.StatusBadRequest, "an unknown state")
	var s apiSession
	e.want(e.call("GET", "/api/v1/sessions/keeper", nil, &s), http.StatusOK, "keeper")
	if s.Online || s.Expiry != 3600 || s.OfflineSince == nil || s.ExpiresAt == nil || s.ExpiresAt.Sub(*s.OfflineSince) != time.Hour || s.Queued != 1 {
		t.Errorf("keeper: %+v", s)
	}
	e.want(e.call("DELETE", "/api/v1/sessions/keeper", nil, nil), http.StatusNoContent, "delete keeper")
	e.want(e.call("GET", "/api/v1/sessions/keeper", nil, nil), http.StatusNotFound, "keeper after deletion")
	e.want(e.call("DELETE", "/api/v1/sessions/keeper", nil, nil), http.StatusNotFound, "delete keeper again")
}

func TestSubscriptions(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	a := e.mqtt("a")
	a.Subscribe(ctx, packet.Subscription{Filter: "x/#", QoS: 1}, packet.Subscription{Filter: "$share/g/y/+"})
	b := e.mqtt("b")
	b.Subscribe(ctx, packet.Subscription{Filter: "x/#", NoLocal: true, RetainHandling: 2})
	type apiSub struct {
		ClientID       string `json:"client_id"`
		Filter         string `json:"filter"`
		NoLocal        bool   `json:"no_local"`
		RetainHandling int    `json:"retain_handling"`
	}
	for _, q := range []struct{ query, want string }{
		{"", "a $share/g/y/+, a x/#, b x/#"},
		{"?client_id=b", "b x/#"},
		{"?filter=x%2F%23", "a x/#, b x/#"},
		{"?topic=y%2F1", "a $share/g/y/+"},
		{"?topic=x", "a x/#, b x/#"},
		{"?limit=1&client_id=a", "a $share/g/y/+"},
	} {
		var p page[apiSub]
		e.want(e.call("GET", "/api/v1/subscriptions"+q.query, nil, &p), http.StatusOK, "subscriptions"+q.query)
		var got []string
		for _, s := range p.Items {
			got = append(got, s.ClientID+" "+s.Filter)
			if s.ClientID == "b" && (!s.NoLocal || s.RetainHandling != 2) {
				t.Errorf("b's options: %+v", s)
			}
		}
		if strings.Join(got, ", ") != q.want {
			t.Errorf("subscriptions%s: %q, want %q", q.query, got, q.want)
		}
	}
	e.want(e.call("GET", "/api/v1/subscriptions?topic=x%2F%2B", nil, nil), http.StatusBadRequest, "a topic with a wildcard")
}

func TestRetainedAndPublish(t *testing.T) {
	e := start(t)
	sub := e.mqtt("sub")
	if _, err := sub.Subscribe(context.Background(), packet.Subscription{Filter: "#", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	text, binary := "21.5", "\x00\xff"
	for _, p := range []map[string]any{
		{"topic": "home/kitchen/temp", "payload": text, "retain": true, "qos": 1, "content_type": "text/plain",
			"user_properties": []map[string]string{{"key": "unit", "value": "C"}}, "message_expiry_seconds": 3600},
		{"topic": "home//hall", "payload_base64": "AP8=", "retain": true},
		{"topic": "home/door", "payload": "open"},
	} {
		var out struct {
			Delivered int `json:"delivered"`
		}
		e.want(e.call("POST", "/api/v1/publish", p, &out), http.StatusOK, fmt.Sprint("publish ", p["topic"]))
		if out.Delivered != 1 {
			t.Errorf("publish %v: delivered to %d, want 1", p["topic"], out.Delivered)
		}
		select {
		case m := <-sub.Messages():
			if m.Topic != p["topic"] {
				t.Errorf("the subscriber got %s, want %s", m.Topic, p["topic"])
			}
			if m.Topic == "home/kitchen/temp" && (string(m.Payload) != text || m.Props.ContentType != "text/plain" || len(m.Props.User) != 1) {
				t.Errorf("the subscriber got %+v", m)
			}
		case <-time.After(wait):
			t.Fatalf("the subscriber got nothing for %v", p["topic"])
		}
	}
	for _, bad := range []map[string]any{
		{"topic": "home/+"},
		{"payload": "no topic"},
		{"topic": "t", "qos": 3},
		{"topic": "t", "payload": "a", "payload_base64": "YQ=="},
		{"topic": "t", "payload_base64": "not base64!"},
		{"topic": "t", "unknown_field": true},
	} {
		var eb errorBody
		e.want(e.call("POST", "/api/v1/publish", bad, &eb), http.StatusBadRequest, fmt.Sprintf("publish %v", bad))
		if eb.Error == "" {
			t.Errorf("publish %v: no error message", bad)
		}
	}

	type apiMessage struct {
		Topic          string  `json:"topic"`
		PayloadBytes   int     `json:"payload_bytes"`
		Payload        *string `json:"payload"`
		PayloadBase64  *string `json:"payload_base64"`
		ContentType    string  `json:"content_type"`
		UserProperties []struct {
			Key, Value string
		} `json:"user_properties"`
	}
	var p page[apiMessage]
	e.want(e.call("GET", "/api/v1/retained", nil, &p), http.StatusOK, "retained")
	if p.Total != 2 || p.Items[0].Topic != "home//hall" || p.Items[1].Topic != "home/kitchen/temp" || p.Items[1].Payload != nil {
		t.Errorf("retained: %+v", p)
	}
	e.want(e.call("GET", "/api/v1/retained?filter=home%2F%2B%2Ftemp", nil, &p), http.StatusOK, "retained by filter")
	if p.Total != 1 {
		t.Errorf("retained home/+/temp: %+v", p)
	}
	e.want(e.call("GET", "/api/v1/retained?filter=home%2F%23%2Fx", nil, nil), http.StatusBadRequest, "an invalid filter")
	var m apiMessage
	e.want(e.call("GET", "/api/v1/retained/home%2Fkitchen%2Ftemp", nil, &m), http.StatusOK, "one retained message")
	if m.Payload == nil || *m.Payload != text || m.PayloadBase64 == nil || m.ContentType != "text/plain" || len(m.UserProperties) != 1 {
		t.Errorf("home/kitchen/temp: %+v", m)
	}
	m = apiMessage{}
	e.want(e.call("GET", "/api/v1/retained/home%2F%2Fhall", nil, &m), http.StatusOK, "a retained message with an empty level")
	if m.Payload != nil || m.PayloadBase64 == nil || *m.PayloadBase64 != "AP8=" || m.PayloadBytes != len(binary) {
		t.Errorf("home//hall: %+v", m)
	}
	e.want(e.call("GET", "/api/v1/retained/home%2Fdoor", nil, nil), http.StatusNotFound, "a topic without a retained message")
	e.want(e.call("DELETE", "/api/v1/retained/home%2F%2Fhall", nil, nil), http.StatusNoContent, "delete one")
	e.want(e.call("DELETE", "/api/v1/retained/home%2F%2Fhall", nil, nil), http.StatusNotFound, "delete it again")
	e.want(e.call("DELETE", "/api/v1/retained", nil, nil), http.StatusBadRequest, "delete without a filter")
	var d struct {
		Deleted int `json:"deleted"`
	}
	e.want(e.call("DELETE", "/api/v1/retained?filter=%23", nil, &d), http.StatusOK, "delete all")
	if d.Deleted != 1 || e.b.Stats().Retained != 0 {
		t.Errorf("delete all: %d deleted, %d left", d.Deleted, e.b.Stats().Retained)
	}
}

func TestBans(t *testing.T) {
	e := start(t)
	c := e.mqtt("troublemaker")
	var b map[string]any
	e.want(e.call("POST", "/api/v1/bans", map[string]any{"client_id": "troublemaker", "duration": "1h", "reason": "spam"}, &b), http.StatusCreated, "ban a client id")
	if b["client_id"] != "troublemaker" || b["until"] == nil || b["reason"] != "spam" {
		t.Errorf("ban: %v", b)
	}
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("the banned client is still connected")
	}
	b = nil
	e.want(e.call("POST", "/api/v1/bans", map[string]any{"network": "192.0.2.7"}, &b), http.StatusCreated, "ban an address")
	if b["network"] != "192.0.2.7/32" || b["until"] != nil {
		t.Errorf("ban: %v", b)
	}
	b = nil
	e.want(e.call("POST", "/api/v1/bans", map[string]any{"network": "10.1.2.3/8", "until": time.Now().Add(time.Hour)}, &b), http.StatusCreated, "ban a network")
	if b["network"] != "10.0.0.0/8" {
		t.Errorf("ban: %v", b)
	}
	var p page[map[string]any]
	e.want(e.call("GET", "/api/v1/bans?limit=2", nil, &p), http.StatusOK, "bans")
	if p.Total != 3 || len(p.Items) != 2 || p.Next == "" {
		t.Errorf("bans: %+v", p)
	}
	for _, bad := range []map[string]any{
		{"client_id": "a", "username": "b"},
		{},
		{"network": "somewhere"},
		{"client_id": "a", "duration": "soon"},
		{"client_id": "a", "duration": "1h", "until": time.Now()},
	} {
		e.want(e.call("POST", "/api/v1/bans", bad, nil), http.StatusBadRequest, fmt.Sprintf("ban %v", bad))
	}
	e.want(e.call("DELETE", "/api/v1/bans?client_id=troublemaker", nil, nil), http.StatusNoContent, "lift the client ban")
	e.want(e.call("DELETE", "/api/v1/bans?client_id=troublemaker", nil, nil), http.StatusNotFound, "lift it again")
	e.want(e.call("DELETE", "/api/v1/bans?network=10.0.0.0%2F8", nil, nil), http.StatusNoContent, "lift the network ban")
	e.want(e.call("DELETE", "/api/v1/bans", nil, nil), http.StatusBadRequest, "lift nothing")
	e.mqtt("troublemaker")
}

func TestLogSettings(t *testing.T) {
	e := start(t)
	var s struct {
		Level         string `json:"level"`
		TraceClientID string `json:"trace_client_id"`
	}
	e.want(e.call("GET", "/api/v1/log", nil, &s), http.StatusOK, "log settings")
	if s.Level != "info" || s.TraceClientID != "" {
		t.Errorf("log settings: %+v", s)
	}
	e.want(e.call("PUT", "/api/v1/log", map[string]string{"level": "debug"}, &s), http.StatusOK, "set the level")
	if s.Level != "debug" || e.level.Level() != slog.LevelDebug {
		t.Errorf("after setting debug: %+v, level %s", s, e.level.Level())
	}
	e.want(e.call("PUT", "/api/v1/log", map[string]string{"trace_client_id": "dev-7"}, &s), http.StatusOK, "trace a client")
	if s.Level != "debug" || s.TraceClientID != "dev-7" || e.b.Trace() != "dev-7" {
		t.Errorf("after tracing: %+v", s)
	}
	e.want(e.call("PUT", "/api/v1/log", map[string]string{"level": "loud"}, nil), http.StatusBadRequest, "an unknown level")
	e.want(e.call("PUT", "/api/v1/log", map[string]string{"trace_client_id": ""}, &s), http.StatusOK, "stop tracing")
	if e.b.Trace() != "" {
		t.Errorf("still tracing %q", e.b.Trace())
	}
}

func TestReloadAndDrain(t *testing.T) {
	e := start(t)
	e.report = admin.ReloadReport{Applied: []string{"acl_file"}, RestartRequired: []string{"listeners[0].address"}}
	var rep admin.ReloadReport
	e.want(e.call("POST", "/api/v1/reload", nil, &rep), http.StatusOK, "reload")
	if len(rep.Applied) != 1 || len(rep.RestartRequired) != 1 || rep.Errors == nil {
		t.Errorf("reload: %+v", rep)
	}
	e.report.Errors = []string{"password_file: no such file"}
	e.want(e.call("POST", "/api/v1/reload", nil, &rep), http.StatusUnprocessableEntity, "a failed reload")

	e.want(e.call("POST", "/api/v1/drain", map[string]any{"permanent": true}, nil), http.StatusBadRequest, "permanent without a reference")
	e.want(e.call("POST", "/api/v1/drain", map[string]any{"server_reference": "b:1883", "permanent": true}, nil), http.StatusAccepted, "drain")
	if len(e.drains) != 1 || e.drains[0].ServerReference != "b:1883" || !e.drains[0].Permanent {
		t.Errorf("drains: %+v", e.drains)
	}
	e.want(e.call("POST", "/api/v1/drain", nil, nil), http.StatusConflict, "drain again")

	fixed := start(t, func(o *admin.Options) { o.Reload, o.Drain, o.LogLevel = nil, nil, nil })
	fixed.want(fixed.call("POST", "/api/v1/reload", nil, nil), http.StatusNotImplemented, "reload where it cannot")
	fixed.want(fixed.call("POST", "/api/v1/drain", nil, nil), http.StatusNotImplemented, "drain where it cannot")
	fixed.want(fixed.call("PUT", "/api/v1/log", map[string]string{"level": "warn"}, nil), http.StatusNotImplemented, "set a level where it cannot")
}

func TestUnknownPath(t *testing.T) {
	e := start(t)
	req, _ := http.NewRequest("GET", e.url+"/api/v1/nothing", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb errorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	if resp.StatusCode != http.StatusNotFound || eb.Error == "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("unknown path: %s, %+v", resp.Status, eb)
	}
}

// TestReadiness: /readyz fails once the broker is draining, and says why.
func TestReadiness(t *testing.T) {
	e := start(t)
	eventually(t, "the broker is ready", func() bool { return e.callAs("GET", "/readyz", nil, nil, nil) == http.StatusOK })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	e.b.Drain(ctx, broker.DrainOptions{})
	var h struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	e.want(e.callAs("GET", "/readyz", nil, &h, nil), http.StatusServiceUnavailable, "readyz while draining")
	if h.Status != "not ready" || h.Reason == "" {
		t.Errorf("readyz: %+v", h)
	}
	e.want(e.callAs("GET", "/healthz", nil, nil, nil), http.StatusOK, "healthz while draining")
	var info struct {
		Ready    bool   `json:"ready"`
		NotReady string `json:"not_ready"`
	}
	e.want(e.call("GET", "/api/v1/broker", nil, &info), http.StatusOK, "broker while draining")
	if info.Ready || info.NotReady == "" {
		t.Errorf("broker while draining: %+v", info)
	}
}
