package admin

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/packet"
)

// OpenAPI is the API's OpenAPI 3.0 document, served at
// /api/v1/openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// Options configure the API.
type Options struct {
	// Server is the broker the API reads and changes.
	Server *broker.Server
	// Version is reported by GET /api/v1/broker.
	Version string
	// Guard decides who may call the API; nil admits no one.
	Guard *Guard
	// Logger records every change made through the API, and refusals.
	Logger *slog.Logger
	// LogLevel is the process's log level, which GET and PUT /api/v1/log
	// read and change; nil leaves it unchangeable here.
	LogLevel *slog.LevelVar
	// Reload reloads the process's configuration and reports what it did;
	// nil answers POST /api/v1/reload with 501.
	Reload func(context.Context) ReloadReport
	// Drain starts draining the broker, after which the process exits; nil
	// answers POST /api/v1/drain with 501. It returns at once.
	Drain func(broker.DrainOptions) error
	// Ready says whether the process is ready for clients, for
	// GET /api/v1/broker; nil uses the Server's Ready.
	Ready func(context.Context) error
}

// ReloadReport is what a reload did.
type ReloadReport struct {
	// Applied lists what changed live: files reloaded, settings changed.
	Applied []string `json:"applied"`
	// RestartRequired lists the changed settings that apply only when the
	// process starts again.
	RestartRequired []string `json:"restart_required"`
	// Errors lists what failed to load; what it would have changed stays
	// as it was.
	Errors []string `json:"errors"`
}

// api serves the routes.
type api struct {
	Options
	mux *http.ServeMux
}

// maxBody bounds a request body: a publish may carry a large payload.
const maxBody = 16 << 20

// New returns the admin API's handler, which serves the paths under
// /api/v1/.
func New(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Ready == nil {
		o.Ready = o.Server.Ready
	}
	a := &api{Options: o, mux: http.NewServeMux()}
	a.mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(OpenAPI)
	})
	for _, rt := range []struct {
		pattern string
		h       func(w http.ResponseWriter, r *http.Request) error
	}{
		{"GET /api/v1/broker", a.getBroker},
		{"GET /api/v1/stats", a.getStats},
		{"GET /api/v1/clients", a.listClients},
		{"GET /api/v1/clients/{id...}", a.getClient},
		{"DELETE /api/v1/clients/{id...}", a.kickClient},
		{"GET /api/v1/sessions", a.listSessions},
		{"GET /api/v1/sessions/{id...}", a.getSession},
		{"DELETE /api/v1/sessions/{id...}", a.deleteSession},
		{"GET /api/v1/subscriptions", a.listSubscriptions},
		{"GET /api/v1/retained", a.listRetained},
		{"DELETE /api/v1/retained", a.deleteRetainedMatching},
		{"GET /api/v1/retained/{topic...}", a.getRetained},
		{"DELETE /api/v1/retained/{topic...}", a.deleteRetained},
		{"POST /api/v1/publish", a.publish},
		{"GET /api/v1/bans", a.listBans},
		{"POST /api/v1/bans", a.addBan},
		{"DELETE /api/v1/bans", a.removeBan},
		{"GET /api/v1/log", a.getLog},
		{"PUT /api/v1/log", a.setLog},
		{"POST /api/v1/reload", a.reload},
		{"POST /api/v1/drain", a.drain},
	} {
		a.mux.Handle(rt.pattern, a.guarded(rt.h))
	}
	a.mux.Handle("/api/v1/", a.guarded(func(w http.ResponseWriter, r *http.Request) error {
		return httpError(http.StatusNotFound, "no such resource: %s", r.URL.Path)
	}))
	return a.mux
}

// statusError is an error with the HTTP status it answers with.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func httpError(status int, format string, args ...any) error {
	return &statusError{status: status, msg: fmt.Sprintf(format, args...)}
}

// brokerError answers an error of a broker method that changes something:
// the server cannot, or the change was made and is not known to be
// durable, or the request was wrong.
func brokerError(err error) error {
	switch {
	case errors.Is(err, broker.ErrServerClosed):
		return httpError(http.StatusServiceUnavailable, "%v", err)
	case errors.Is(err, broker.ErrNotDurable):
		return httpError(http.StatusServiceUnavailable, "%v", err)
	}
	return httpError(http.StatusBadRequest, "%v", err)
}

// guarded checks the caller's credentials, runs h and answers its error
// in JSON. Changes are logged with who made them.
func (a *api) guarded(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, status, err := "", http.StatusUnauthorized, errUnauthenticated
		if a.Guard != nil {
			who, status, err = a.Guard.check(r)
		}
		if err != nil {
			a.Logger.Warn("admin API request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="petrel", Basic realm="petrel"`)
			writeJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		err = h(w, r)
		if r.Method != http.MethodGet {
			a.Logger.Info("admin API", "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery, "by", who, "err", err)
		}
		if err != nil {
			var se *statusError
			if !errors.As(err, &se) {
				se = &statusError{status: http.StatusInternalServerError, msg: err.Error()}
			}
			writeJSON(w, se.status, map[string]string{"error": se.msg})
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// decode reads a JSON body into v, refusing unknown fields.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return httpError(http.StatusBadRequest, "request body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return httpError(http.StatusBadRequest, "request body: more than one JSON value")
	}
	return nil
}

// page is one page of a list.
type page[T any] struct {
	Items []T `json:"items"`
	// Total is how many items the whole list has.
	Total int `json:"total"`
	// Next is the cursor of the next page, for after; absent on the last.
	Next string `json:"next,omitempty"`
}

const (
	defaultLimit = 100
	maxLimit     = 1000
)

// paginate answers with the page of items that limit and after select.
// items are in the order of key.
func paginate[T any](w http.ResponseWriter, r *http.Request, items []T, key func(T) string) error {
	q := r.URL.Query()
	limit := defaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return httpError(http.StatusBadRequest, "limit: want a number from 1 to %d, got %q", maxLimit, s)
		}
		limit = n
	}
	start := 0
	if s := q.Get("after"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return httpError(http.StatusBadRequest, "after: not a cursor this API returned: %q", s)
		}
		after := string(b)
		start, _ = slices.BinarySearchFunc(items, after, func(it T, k string) int { return strings.Compare(key(it), k) })
		if start < len(items) && key(items[start]) == after {
			start++
		}
	}
	end := min(start+limit, len(items))
	p := page[T]{Items: items[start:end], Total: len(items)}
	if p.Items == nil {
		p.Items = []T{}
	}
	if end < len(items) {
		p.Next = base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1])))
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// mapped converts a list.
func mapped[S, T any](in []S, f func(S) T) []T {
	out := make([]T, len(in))
	for i := range in {
		out[i] = f(in[i])
	}
	return out
}

type brokerInfo struct {
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	Uptime    int64     `json:"uptime_seconds"`
	Listeners []string  `json:"listeners"`
	Ready     bool      `json:"ready"`
	// NotReady says why the broker is not ready.
	NotReady string `json:"not_ready,omitempty"`
	Limits   limits `json:"limits"`
}

func (a *api) getBroker(w http.ResponseWriter, r *http.Request) error {
	st := a.Server.Stats()
	info := brokerInfo{
		Version:   a.Version,
		StartedAt: time.Now().Add(-st.Uptime).UTC().Truncate(time.Second),
		Uptime:    int64(st.Uptime / time.Second),
		Listeners: a.Server.Listeners(),
		Limits:    limitsOf(a.Server.Limits()),
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := a.Ready(ctx); err != nil {
		info.NotReady = err.Error()
	} else {
		info.Ready = true
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (a *api) getStats(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, statsOf(a.Server.Stats()))
	return nil
}

func (a *api) listClients(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	cq := broker.ClientQuery{Search: q.Get("search"), Username: q.Get("username")}
	if s := q.Get("network"); s != "" {
		p, err := parseNetwork(s)
		if err != nil {
			return httpError(http.StatusBadRequest, "network: want an address or a network such as 10.0.0.0/8, got %q", s)
		}
		cq.Network = p.Masked()
	}
	items := mapped(a.Server.Clients(cq), clientOf)
	return paginate(w, r, items, func(c client) string { return c.ClientID })
}

func (a *api) getClient(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	ci, ok := a.Server.Client(id)
	if !ok {
		return httpError(http.StatusNotFound, "no client %q is connected", id)
	}
	c := clientOf(ci)
	c.Filters = mapped(a.Server.Subscriptions(broker.SubscriptionQuery{ClientID: id}), subscriptionOf)
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (a *api) kickClient(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !a.Server.Kick(id) {
		return httpError(http.StatusNotFound, "no client %q is connected", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) listSessions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	sessions := a.Server.Sessions(q.Get("search"))
	switch state := q.Get("state"); state {
	case "":
	case "online", "offline":
		online := state == "online"
		sessions = slices.DeleteFunc(sessions, func(s broker.SessionInfo) bool { return s.Online != online })
	default:
		return httpError(http.StatusBadRequest, "state: want online or offline, got %q", state)
	}
	return paginate(w, r, mapped(sessions, sessionOf), func(s session) string { return s.ClientID })
}

func (a *api) getSession(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	si, ok := a.Server.Session(id)
	if !ok {
		return httpError(http.StatusNotFound, "no session of %q", id)
	}
	writeJSON(w, http.StatusOK, sessionOf(si))
	return nil
}

func (a *api) deleteSession(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !a.Server.DeleteSession(id) {
		return httpError(http.StatusNotFound, "no session of %q", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) listSubscriptions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	sq := broker.SubscriptionQuery{ClientID: q.Get("client_id"), Filter: q.Get("filter"), Topic: q.Get("topic")}
	if sq.Topic != "" && strings.ContainsAny(sq.Topic, "+#") {
		return httpError(http.StatusBadRequest, "topic: want a topic name, without wildcards, got %q", sq.Topic)
	}
	items := mapped(a.Server.Subscriptions(sq), subscriptionOf)
	return paginate(w, r, items, func(s subscription) string { return s.ClientID + "\x00" + s.Filter })
}

// filterParam is the filter query parameter, "#" when absent.
func filterParam(r *http.Request) string {
	if f := r.URL.Query().Get("filter"); f != "" {
		return f
	}
	return "#"
}

func (a *api) listRetained(w http.ResponseWriter, r *http.Request) error {
	ms, err := a.Server.Retained(filterParam(r))
	if err != nil {
		return httpError(http.StatusBadRequest, "filter: %v", err)
	}
	items := mapped(ms, func(m *broker.Message) message { return messageOf(m, false) })
	return paginate(w, r, items, func(m message) string { return m.Topic })
}

func (a *api) getRetained(w http.ResponseWriter, r *http.Request) error {
	t := r.PathValue("topic")
	m, ok := a.Server.RetainedMessage(t)
	if !ok {
		return httpError(http.StatusNotFound, "no retained message on %q", t)
	}
	writeJSON(w, http.StatusOK, messageOf(m, true))
	return nil
}

type deleted struct {
	Deleted int `json:"deleted"`
}

func (a *api) deleteRetained(w http.ResponseWriter, r *http.Request) error {
	t := r.PathValue("topic")
	if _, ok := a.Server.RetainedMessage(t); !ok {
		return httpError(http.StatusNotFound, "no retained message on %q", t)
	}
	if _, err := a.Server.DeleteRetained(r.Context(), t); err != nil {
		return brokerError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) deleteRetainedMatching(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Query().Get("filter") == "" {
		return httpError(http.StatusBadRequest, "filter: required, such as sensors/# (# deletes every retained message)")
	}
	if _, err := a.Server.Retained(filterParam(r)); err != nil {
		return httpError(http.StatusBadRequest, "filter: %v", err)
	}
	n, err := a.Server.DeleteRetained(r.Context(), filterParam(r))
	if err != nil {
		return brokerError(err)
	}
	writeJSON(w, http.StatusOK, deleted{n})
	return nil
}

type published struct {
	// Delivered counts the sessions the message went to.
	Delivered int `json:"delivered"`
}

func (a *api) publish(w http.ResponseWriter, r *http.Request) error {
	var req publishRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	m, err := req.message()
	if err != nil {
		return httpError(http.StatusBadRequest, "%v", err)
	}
	n, err := a.Server.Publish(r.Context(), m)
	if err != nil {
		return brokerError(err)
	}
	writeJSON(w, http.StatusOK, published{n})
	return nil
}

// message makes the broker's message of a publish request.
func (req *publishRequest) message() (*broker.Message, error) {
	if req.Topic == nil {
		return nil, errors.New("topic: required")
	}
	m := &broker.Message{Topic: *req.Topic, QoS: packet.QoS(req.QoS), Retain: req.Retain}
	switch {
	case req.QoS > 2:
		return nil, fmt.Errorf("qos: want 0, 1 or 2, got %d", req.QoS)
	case req.Payload != nil && req.PayloadBase64 != nil:
		return nil, errors.New("payload and payload_base64: give one")
	case req.Payload != nil:
		m.Payload = []byte(*req.Payload)
	case req.PayloadBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*req.PayloadBase64)
		if err != nil {
			return nil, fmt.Errorf("payload_base64: %v", err)
		}
		m.Payload = b
	}
	props := &packet.Properties{ContentType: req.ContentType, ResponseTopic: req.ResponseTopic}
	if req.CorrelationData != "" {
		b, err := base64.StdEncoding.DecodeString(req.CorrelationData)
		if err != nil {
			return nil, fmt.Errorf("correlation_data_base64: %v", err)
		}
		props.CorrelationData = b
	}
	if f := req.PayloadFormat; f != nil {
		if *f > 1 {
			return nil, fmt.Errorf("payload_format_indicator: want 0 or 1, got %d", *f)
		}
		props.PayloadFormat = *f
	}
	for _, u := range req.UserProperties {
		props.User = append(props.User, packet.UserProperty{Key: u.Key, Value: u.Value})
	}
	if props.ContentType != "" || props.ResponseTopic != "" || len(props.CorrelationData) > 0 || props.PayloadFormat != 0 || len(props.User) > 0 {
		m.Props = props
	}
	if e := req.MessageExpiry; e != nil {
		m.Expiry = time.Now().Add(time.Duration(*e) * time.Second)
	}
	return m, nil
}

func (a *api) listBans(w http.ResponseWriter, r *http.Request) error {
	bans := mapped(a.Server.Bans(), banOf)
	slices.SortFunc(bans, func(x, y ban) int { return strings.Compare(x.key(), y.key()) })
	return paginate(w, r, bans, ban.key)
}

func (a *api) addBan(w http.ResponseWriter, r *http.Request) error {
	var req banRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	b := broker.Ban{ClientID: req.ClientID, Username: req.Username, Reason: req.Reason}
	if req.Network != "" {
		p, err := parseNetwork(req.Network)
		if err != nil {
			return httpError(http.StatusBadRequest, "network: want an address or a network such as 10.0.0.0/8, got %q", req.Network)
		}
		b.Network = p
	}
	switch {
	case req.Until != nil && req.Duration != "":
		return httpError(http.StatusBadRequest, "until and duration: give one, or neither for a ban that never lapses")
	case req.Until != nil:
		b.Until = *req.Until
	case req.Duration != "":
		d, err := time.ParseDuration(req.Duration)
		if err != nil || d <= 0 {
			return httpError(http.StatusBadRequest, "duration: want a duration such as 10m or 24h, got %q", req.Duration)
		}
		b.Until = time.Now().Add(d)
	}
	if err := a.Server.Ban(b); err != nil {
		return httpError(http.StatusBadRequest, "%v", err)
	}
	b.Network = b.Network.Masked()
	writeJSON(w, http.StatusCreated, banOf(b))
	return nil
}

func (a *api) removeBan(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	b := broker.Ban{ClientID: q.Get("client_id"), Username: q.Get("username")}
	if s := q.Get("network"); s != "" {
		p, err := parseNetwork(s)
		if err != nil {
			return httpError(http.StatusBadRequest, "network: want an address or a network such as 10.0.0.0/8, got %q", s)
		}
		b.Network = p
	}
	targets := 0
	for _, set := range []bool{b.ClientID != "", b.Username != "", b.Network.IsValid()} {
		if set {
			targets++
		}
	}
	if targets != 1 {
		return httpError(http.StatusBadRequest, "give exactly one of client_id, username and network")
	}
	if !a.Server.Unban(b) {
		return httpError(http.StatusNotFound, "no such ban")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type logSettings struct {
	Level         string `json:"level"`
	TraceClientID string `json:"trace_client_id"`
}

func (a *api) logSettings() logSettings {
	s := logSettings{TraceClientID: a.Server.Trace()}
	if a.LogLevel != nil {
		s.Level = strings.ToLower(a.LogLevel.Level().String())
	}
	return s
}

func (a *api) getLog(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, a.logSettings())
	return nil
}

func (a *api) setLog(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Level         *string `json:"level"`
		TraceClientID *string `json:"trace_client_id"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Level != nil {
		var l slog.Level
		if err := l.UnmarshalText([]byte(*req.Level)); err != nil || !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(*req.Level)) {
			return httpError(http.StatusBadRequest, "level: want debug, info, warn or error, got %q", *req.Level)
		}
		if a.LogLevel == nil {
			return httpError(http.StatusNotImplemented, "the log level cannot be changed here")
		}
		a.LogLevel.Set(l)
	}
	if req.TraceClientID != nil && *req.TraceClientID != a.Server.Trace() {
		a.Server.SetTrace(*req.TraceClientID)
	}
	writeJSON(w, http.StatusOK, a.logSettings())
	return nil
}

func (a *api) reload(w http.ResponseWriter, r *http.Request) error {
	if a.Reload == nil {
		return httpError(http.StatusNotImplemented, "this process cannot reload its configuration")
	}
	rep := a.Reload(r.Context())
	for _, l := range []*[]string{&rep.Applied, &rep.RestartRequired, &rep.Errors} {
		if *l == nil {
			*l = []string{}
		}
	}
	status := http.StatusOK
	if len(rep.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, rep)
	return nil
}

func (a *api) drain(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ServerReference string `json:"server_reference"`
		Permanent       bool   `json:"permanent"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	if req.Permanent && req.ServerReference == "" {
		return httpError(http.StatusBadRequest, "permanent: needs a server_reference to send clients to")
	}
	if a.Drain == nil {
		return httpError(http.StatusNotImplemented, "this process cannot be drained from here")
	}
	if err := a.Drain(broker.DrainOptions{ServerReference: req.ServerReference, Permanent: req.Permanent}); err != nil {
		return httpError(http.StatusConflict, "%v", err)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"draining": true, "server_reference": req.ServerReference})
	return nil
}
