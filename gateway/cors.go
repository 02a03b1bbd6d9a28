package gateway

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/internal/telemetry"
)

// withCORS answers preflight requests and marks responses readable by the configured
// origins. WebSocket upgrades are not subject to CORS and pass through untouched.
func withCORS(c config.CORS, next http.Handler) http.Handler {
	if len(c.AllowedOrigins) == 0 {
		return next
	}
	any := slices.Contains(c.AllowedOrigins, "*")
	maxAge := strconv.Itoa(int(c.MaxAge.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || (!any && !slices.Contains(c.AllowedOrigins, origin)) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		if any {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		if c.AllowCredentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
			}
			h.Set("Access-Control-Max-Age", maxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", strings.Join([]string{"Content-Type", telemetry.RequestIDHeader}, ", "))
		next.ServeHTTP(w, r)
	})
}

// checkOrigin returns the WebSocket upgrade check of websocket.check_origin: an upgrade
// from a browser (with an Origin header) is accepted from the gateway's own origin (the
// Origin's host is the request's Host) or from an origin of cors.allowed_origins ("*":
// any); nil when the check is off.
func checkOrigin(cfg *config.Config) func(r *http.Request) bool {
	if !cfg.WebSocket.CheckOrigin {
		return nil
	}
	allowed := cfg.CORS.AllowedOrigins
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" || slices.Contains(allowed, "*") || slices.Contains(allowed, origin) {
			return true
		}
		u, err := url.Parse(origin)
		return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
	}
}
