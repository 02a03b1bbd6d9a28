package config

import (
	"errors"
	"testing"
)

// FuzzParse: any configuration text loads or fails with a *config.Error that names the
// file, never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"listen_addr: 127.0.0.1:3002\nsubgraphs:\n  - name: a\n    routing_url: http://h/graphql\n    schema: { file: a.graphql }\n",
		"limits: { max_request_body_bytes: 1MiB, max_query_depth: 3 }\n",
		"websocket: { init_timeout: 1h30m, max_message_bytes: 64KiB }\n",
		"events:\n  providers:\n    nats:\n      - id: default\n        url: ${NATS_URL:-nats://h:4222}\n",
		"a: &x [*x]\n", "- 1\n", "limits: { max_request_body_bytes: -1GB }\n", ":\n\t", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("/nonexistent/edgate.yaml", data)
		var ce *Error
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("error %T %v", err, err)
		}
	})
}
