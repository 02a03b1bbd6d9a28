package gateway

import (
	"net/http"
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
