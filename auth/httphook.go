package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// HTTPHook is an Authenticator that asks a web service. For each login it
// POSTs a JSON object to URL:
//
//	{"clientid": "sensor-1", "username": "alice", "password": "s3cret",
//	 "remote": "192.0.2.7:50312", "listener": "tls", "protocol": "5.0"}
//
// username and password are empty when the client sent none; a password
// that is not UTF-8 is sent base64-encoded as "password_base64", with an
// empty "password". remote is the client's address and protocol its MQTT
// version ("3.1", "3.1.1" or "5.0").
//
// The service allows the client by answering 200 OK with the JSON object
// {"result": "allow"}. Any other 2xx, 3xx or 4xx answer, or a 200 with
// another result, refuses the client with Not Authorized. When the service
// cannot be reached, does not answer within Timeout, or answers 5xx, the
// client is refused with Server Unavailable instead, so that it retries
// rather than concluding that its credentials are wrong.
//
// The zero value is not usable: URL must be set. The fields must not
// change once Authenticate has been called; Authenticate is safe for
// concurrent use.
type HTTPHook struct {
	// URL is where the requests go.
	URL string
	// Timeout bounds each request, in addition to the broker's connect
	// timeout; 0 means 5 seconds.
	Timeout time.Duration
	// CacheTTL is how long an allowed login is remembered, keyed by the
	// client identifier, the user name and a digest of the password, so
	// that reconnecting within it does not ask again; 0 remembers nothing.
	CacheTTL time.Duration
	// Client sends the requests; nil means http.DefaultClient. Set one to
	// use client certificates or a private CA.
	Client *http.Client

	once  sync.Once
	key   digestKey
	mu    sync.Mutex
	cache map[hookCacheKey]time.Time // when an allowed login expires
}

type hookCacheKey struct {
	clientID, username string
	password           [sha256.Size]byte
}

// maxHookCache bounds the allowed logins remembered; when full, expired
// ones are dropped, then arbitrary ones.
const maxHookCache = 100_000

type hookRequest struct {
	ClientID       string `json:"clientid"`
	Username       string `json:"username"`
	Password       string `json:"password"`
	PasswordBase64 string `json:"password_base64,omitempty"`
	Remote         string `json:"remote"`
	Listener       string `json:"listener"`
	Protocol       string `json:"protocol"`
}

type hookResponse struct {
	Result string `json:"result"`
}

// Authenticate asks the service whether c may connect with cred.
func (h *HTTPHook) Authenticate(ctx context.Context, c *plugin.Client, cred plugin.Credentials) error {
	h.once.Do(func() { h.key = newDigestKey() })
	k := hookCacheKey{clientID: c.ID, username: c.Username, password: h.key.digest(cred.Password)}
	if h.CacheTTL > 0 && h.cached(k) {
		return nil
	}
	req := hookRequest{ClientID: c.ID, Username: c.Username, Listener: c.Listener, Protocol: c.Version.String()}
	if utf8.Valid(cred.Password) {
		req.Password = string(cred.Password)
	} else {
		req.PasswordBase64 = base64.StdEncoding.EncodeToString(cred.Password)
	}
	if c.RemoteAddr != nil {
		req.Remote = c.RemoteAddr.String()
	}
	if err := h.ask(ctx, &req); err != nil {
		return err
	}
	if h.CacheTTL > 0 {
		h.remember(k)
	}
	return nil
}

func (h *HTTPHook) ask(ctx context.Context, r *hookRequest) error {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, _ := json.Marshal(r) // a struct of strings always marshals
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return refuse(packet.ServerUnavailable, "auth hook: the configured URL is not valid")
	}
	req.Header.Set("Content-Type", "application/json")
	client := h.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// The refusal reaches the client: name the cause, not the URL or
		// the addresses behind it.
		if ctx.Err() != nil {
			return refuse(packet.ServerUnavailable, "auth hook: no answer in time")
		}
		return refuse(packet.ServerUnavailable, "auth hook: unreachable: %v", rootCause(err))
	}
	defer resp.Body.Close()
	var answer hookResponse
	dec := json.NewDecoder(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 500:
		return refuse(packet.ServerUnavailable, "auth hook: answered %s", resp.Status)
	case resp.StatusCode != http.StatusOK:
		return refuse(packet.NotAuthorized, "auth hook: answered %s", resp.Status)
	case dec.Decode(&answer) != nil:
		return refuse(packet.NotAuthorized, "auth hook: the answer is not a JSON object with a result")
	case answer.Result != "allow":
		return refuse(packet.NotAuthorized, "auth hook: result %q", answer.Result)
	}
	return nil
}

func (h *HTTPHook) cached(k hookCacheKey) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	exp, ok := h.cache[k]
	if ok && time.Now().After(exp) {
		delete(h.cache, k)
		ok = false
	}
	return ok
}

func (h *HTTPHook) remember(k hookCacheKey) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cache == nil {
		h.cache = map[hookCacheKey]time.Time{}
	}
	if len(h.cache) >= maxHookCache {
		for old, exp := range h.cache {
			if now.After(exp) {
				delete(h.cache, old)
			}
		}
		for old := range h.cache {
			if len(h.cache) < maxHookCache {
				break
			}
			delete(h.cache, old)
		}
	}
	h.cache[k] = now.Add(h.CacheTTL)
}

// rootCause is the innermost error err wraps.
func rootCause(err error) error {
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return err
		}
		err = inner
	}
}
