package gateway

import (
	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/resolve"
)

// upstreamOptions maps the subgraphs' `subscription:` settings to the engine's upstream
// subscription policies. Subgraphs without that section (their subscriptions, if any, go
// to the routing URL over WebSocket) follow websocket.forward_init_payload and do not retry.
func upstreamOptions(cfg *config.Config) resolve.UpstreamOptions {
	opts := resolve.UpstreamOptions{
		Default: resolve.UpstreamSubgraph{OmitInitPayload: !cfg.WebSocket.ForwardInitPayload},
	}
	for _, sg := range cfg.Subgraphs {
		s := sg.Subscription
		if s == nil {
			continue
		}
		forward := cfg.WebSocket.ForwardInitPayload
		if s.ForwardInitPayload != nil {
			forward = *s.ForwardInitPayload
		}
		if opts.Subgraphs == nil {
			opts.Subgraphs = make(map[string]resolve.UpstreamSubgraph)
		}
		opts.Subgraphs[sg.Name] = resolve.UpstreamSubgraph{
			OmitInitPayload: !forward,
			Retry: resolve.UpstreamRetry{
				Enabled:     s.Retry.Enabled,
				MaxAttempts: s.Retry.MaxAttempts,
				Interval:    s.Retry.Interval,
				MaxDuration: s.Retry.MaxDuration,
			},
		}
	}
	return opts
}
