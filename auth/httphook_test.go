package auth

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// hookService is a web service that allows the users whose password is
// "letmein" and records what it was asked.
type hookService struct {
	*httptest.Server
	mu       sync.Mutex
	requests []map[string]string
	calls    atomic.Int32
}

func newHookService(t *testing.T, answer func(w http.ResponseWriter, req map[string]string)) *hookService {
	t.Helper()
	h := &hookService{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.calls.Add(1)
		var req map[string]string
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.requests = append(h.requests, req)
		h.mu.Unlock()
		answer(w, req)
	}))
	t.Cleanup(h.Close)
	return h
}

func allowLetMeIn(w http.ResponseWriter, req map[string]string) {
	result := "deny"
	if req["password"] == "letmein" {
		result = "allow"
	}
	json.NewEncoder(w).Encode(map[string]string{"result": result})
}

func hookClient() *plugin.Client {
	return &plugin.Client{ID: "sensor-1", Username: "alice", HasUsername: true, Version: packet.V311,
		RemoteAddr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 50312}, Listener: "tls"}
}

func TestHTTPHookAsks(t *testing.T) {
	svc := newHookService(t, allowLetMeIn)
	h := &HTTPHook{URL: svc.URL}
	if err := h.Authenticate(context.Background(), hookClient(), password("letmein")); err != nil {
		t.Fatalf("allowed login refused: %v", err)
	}
	want := map[string]string{"clientid": "sensor-1", "username": "alice", "password": "letmein",
		"remote": "192.0.2.7:50312", "listener": "tls", "protocol": "3.1.1"}
	got := svc.requests[0]
	for k, v := range want {
		if got[k] != v {
			t.Errorf("request %s = %q, want %q", k, got[k], v)
		}
	}
	err := h.Authenticate(context.Background(), hookClient(), password("guess"))
	if outcome(err) != notAuth || strings.Contains(err.Error(), "guess") {
		t.Errorf("denied login: %v, want not authorized without the password", err)
	}

	// A password that is not UTF-8 travels base64-encoded.
	h.Authenticate(context.Background(), hookClient(), password("\xff\x00"))
	if last := svc.requests[len(svc.requests)-1]; last["password_base64"] != "/wA=" || last["password"] != "" {
		t.Errorf("binary password sent as %q / base64 %q, want base64 /wA=", last["password"], last["password_base64"])
	}
}

func TestHTTPHookAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter)
		want   string
	}{
		{"allow", func(w http.ResponseWriter) { w.Write([]byte(`{"result": "allow"}`)) }, accepted},
		{"deny", func(w http.ResponseWriter) { w.Write([]byte(`{"result": "deny"}`)) }, notAuth},
		{"empty object", func(w http.ResponseWriter) { w.Write([]byte(`{}`)) }, notAuth},
		{"not JSON", func(w http.ResponseWriter) { w.Write([]byte(`allow`)) }, notAuth},
		{"allow with 201", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"result": "allow"}`))
		}, notAuth},
		{"403", func(w http.ResponseWriter) { http.Error(w, "no", http.StatusForbidden) }, notAuth},
		{"503", func(w http.ResponseWriter) { http.Error(w, "down", http.StatusServiceUnavailable) }, packet.ServerUnavailable.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := newHookService(t, func(w http.ResponseWriter, _ map[string]string) { tc.answer(w) })
			err := (&HTTPHook{URL: svc.URL}).Authenticate(context.Background(), hookClient(), password("letmein"))
			if got := outcome(err); got != tc.want {
				t.Errorf("got %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}

func TestHTTPHookUnavailable(t *testing.T) {
	release := make(chan struct{})
	slow := newHookService(t, func(w http.ResponseWriter, req map[string]string) {
		<-release
		allowLetMeIn(w, req)
	})
	defer close(release)
	start := time.Now()
	err := (&HTTPHook{URL: slow.URL, Timeout: 100 * time.Millisecond}).Authenticate(context.Background(), hookClient(), password("letmein"))
	if got := outcome(err); got != packet.ServerUnavailable.String() || !strings.Contains(err.Error(), "no answer in time") {
		t.Errorf("slow service: %s (%v), want server unavailable for no answer in time", got, err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("the login waited %v for a 100ms timeout", waited)
	}

	// The broker's own deadline counts too.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = (&HTTPHook{URL: slow.URL}).Authenticate(ctx, hookClient(), password("letmein"))
	if got := outcome(err); got != packet.ServerUnavailable.String() {
		t.Errorf("past the connect deadline: %s (%v), want server unavailable", got, err)
	}

	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	err = (&HTTPHook{URL: gone.URL}).Authenticate(context.Background(), hookClient(), password("letmein"))
	if got := outcome(err); got != packet.ServerUnavailable.String() || strings.Contains(err.Error(), gone.URL) {
		t.Errorf("service down: %s (%v), want server unavailable without the URL", got, err)
	}
}

func TestHTTPHookCache(t *testing.T) {
	svc := newHookService(t, allowLetMeIn)
	h := &HTTPHook{URL: svc.URL, CacheTTL: 200 * time.Millisecond}
	login := func(c *plugin.Client, pw string) string {
		return outcome(h.Authenticate(context.Background(), c, password(pw)))
	}
	other := hookClient()
	other.ID = "sensor-2"
	for _, step := range []struct {
		what      string
		client    *plugin.Client
		password  string
		want      string
		wantCalls int32
	}{
		{"first login asks", hookClient(), "letmein", accepted, 1},
		{"reconnect is remembered", hookClient(), "letmein", accepted, 1},
		{"another password asks", hookClient(), "guess", notAuth, 2},
		{"a refusal is not remembered", hookClient(), "guess", notAuth, 3},
		{"another client id asks", other, "letmein", accepted, 4},
		{"still remembered", hookClient(), "letmein", accepted, 4},
	} {
		if got := login(step.client, step.password); got != step.want || svc.calls.Load() != step.wantCalls {
			t.Fatalf("%s: %s after %d requests, want %s after %d", step.what, got, svc.calls.Load(), step.want, step.wantCalls)
		}
	}
	time.Sleep(250 * time.Millisecond)
	if got := login(hookClient(), "letmein"); got != accepted || svc.calls.Load() != 5 {
		t.Errorf("after the TTL: %s after %d requests, want accepted after asking again (5)", got, svc.calls.Load())
	}

	noCache := &HTTPHook{URL: svc.URL}
	noCache.Authenticate(context.Background(), hookClient(), password("letmein"))
	noCache.Authenticate(context.Background(), hookClient(), password("letmein"))
	if svc.calls.Load() != 7 {
		t.Errorf("without CacheTTL %d requests for two logins, want 2", svc.calls.Load()-5)
	}
}
