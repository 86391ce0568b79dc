package admin

import (
	"context"
	"net/http"
	"time"
)

// readyTimeout bounds a readiness check, whose store write must not hang
// a probe.
const readyTimeout = 2 * time.Second

// Health serves /healthz, which answers as long as the process serves
// HTTP, and /readyz, which answers 200 when ready says so and 503 with the
// reason when it does not. Neither needs credentials: probes and load
// balancers call them.
func Health(ready func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	return mux
}
