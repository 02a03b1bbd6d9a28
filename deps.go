//go:build tools

package tools

import (
	_ "github.com/alicebob/miniredis/v2"
	_ "github.com/coder/websocket"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/r3labs/sse/v2"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/rs/zerolog"
	_ "github.com/twmb/franz-go/pkg/kadm"
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "github.com/twmb/franz-go/pkg/kgo"
	_ "github.com/wundergraph/cosmo/composition-go"
	_ "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	_ "github.com/wundergraph/graphql-go-tools/v2/pkg/engine/datasource/graphql_datasource"
	_ "github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
	_ "github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"
	_ "go.uber.org/goleak"
	_ "golang.org/x/net/http2/h2c"
	_ "gopkg.in/yaml.v3"
)
