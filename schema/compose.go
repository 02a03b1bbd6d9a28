package schema

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/edgate/edgate/directives"
	composition "github.com/wundergraph/cosmo/composition-go"
	"github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/common"
	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// SubgraphSource is one subgraph as configured by the user.
type SubgraphSource struct {
	Name string
	// RoutingURL is where queries, mutations and entity fetches go. It may be empty only
	// for an event subgraph (one using the @edfs__ directives), which has no server.
	RoutingURL string
	SDL        string
	// File is the SDL's file name, used in error messages only.
	File string
	// Subscription is set when the subgraph serves subscriptions itself. Nil keeps the
	// composer's default: WebSocket on the routing URL, subprotocol negotiated ("auto").
	Subscription *UpstreamSubscription
}

// UpstreamSubscription says how the gateway forwards subscriptions to a subgraph.
type UpstreamSubscription struct {
	// URL defaults to the subgraph's RoutingURL.
	URL string
	// Protocol is "ws" (default), "sse" (GET) or "sse_post".
	Protocol string
	// WSSubprotocol is "auto" (default), "graphql-ws" or "graphql-transport-ws".
	WSSubprotocol string
}

// eventSubgraphURL is the routing URL handed to the composer for an event subgraph, which
// has none. The .invalid TLD (RFC 2606) guarantees nothing ever resolves it; the data
// source built for it is the caller's event data source, never an HTTP one.
func eventSubgraphURL(name string) string {
	return "http://event-subgraph.edgate.invalid/" + url.PathEscape(name)
}

// Compose parses the event directives of every subgraph, rewrites event subgraphs into
// plain entity-key form, composes all subgraphs with the Cosmo composer and returns the
// supergraph. It is slow (see the package comment): call it at start-up and reload only.
func Compose(subgraphs []SubgraphSource) (*Supergraph, error) {
	if len(subgraphs) == 0 {
		return nil, errors.New("compose: no subgraphs")
	}
	sg := &Supergraph{}
	inputs := make([]*composition.Subgraph, 0, len(subgraphs))
	seen := make(map[string]bool, len(subgraphs))
	for i := range subgraphs {
		src := &subgraphs[i]
		if src.Name == "" {
			return nil, fmt.Errorf("compose: subgraph #%d%s has no name", i+1, inFile(src.File))
		}
		if seen[src.Name] {
			return nil, fmt.Errorf("compose: subgraph %q is defined twice", src.Name)
		}
		seen[src.Name] = true
		if strings.TrimSpace(src.SDL) == "" {
			return nil, fmt.Errorf("compose: subgraph %q%s: empty schema", src.Name, inFile(src.File))
		}
		if err := src.Subscription.validate(); err != nil {
			return nil, fmt.Errorf("compose: subgraph %q: %w", src.Name, err)
		}

		parsed, err := directives.Parse(directives.Source{Subgraph: src.Name, File: src.File, SDL: src.SDL})
		if err != nil {
			return nil, fmt.Errorf("compose: subgraph %q: %w", src.Name, err)
		}
		in := &composition.Subgraph{Name: src.Name, URL: src.RoutingURL, Schema: src.SDL}
		if parsed.Events {
			sg.EventSubgraphs = append(sg.EventSubgraphs, src.Name)
			sg.Bindings = append(sg.Bindings, parsed.Bindings...)
			in.Schema = parsed.SDL
			if in.URL == "" {
				in.URL = eventSubgraphURL(src.Name)
			}
		} else if src.RoutingURL == "" {
			return nil, fmt.Errorf("compose: subgraph %q%s has no routing_url (only event subgraphs may omit it)", src.Name, inFile(src.File))
		}
		inputs = append(inputs, in)
	}

	raw, err := buildRouterConfiguration(inputs)
	if err != nil {
		return nil, compositionError(err, subgraphs)
	}
	cfg := &nodev1.RouterConfig{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(raw), cfg); err != nil {
		return nil, fmt.Errorf("compose: decode router config: %w", err)
	}
	if cfg.GetEngineConfig() == nil {
		return nil, errors.New("compose: composer returned no engine configuration")
	}
	sg.Config = cfg
	for i := range subgraphs {
		if err := sg.applySubscription(&subgraphs[i]); err != nil {
			return nil, err
		}
	}
	return sg, nil
}

func inFile(file string) string {
	if file == "" {
		return ""
	}
	return fmt.Sprintf(" (%s)", file)
}

func (u *UpstreamSubscription) validate() error {
	if u == nil {
		return nil
	}
	switch u.Protocol {
	case "", "ws", "sse", "sse_post":
	default:
		return fmt.Errorf("subscription protocol %q: want ws, sse or sse_post", u.Protocol)
	}
	switch u.WSSubprotocol {
	case "", "auto", "graphql-ws", "graphql-transport-ws":
	default:
		return fmt.Errorf("websocket subprotocol %q: want auto, graphql-ws or graphql-transport-ws", u.WSSubprotocol)
	}
	return nil
}

// applySubscription writes the user's upstream subscription settings into the composed
// config. The composer takes URL and protocol only, so the config is the one place that
// holds all of them.
func (s *Supergraph) applySubscription(src *SubgraphSource) error {
	if src.Subscription == nil {
		return nil
	}
	ds := s.dataSourceOf(src.Name)
	if ds == nil || ds.GetCustomGraphql() == nil {
		return fmt.Errorf("compose: subgraph %q: composed config has no GraphQL data source for it", src.Name)
	}
	u := src.Subscription.URL
	if u == "" {
		u = src.RoutingURL
	}
	protocol := common.GraphQLSubscriptionProtocol_GRAPHQL_SUBSCRIPTION_PROTOCOL_WS
	switch src.Subscription.Protocol {
	case "sse":
		protocol = common.GraphQLSubscriptionProtocol_GRAPHQL_SUBSCRIPTION_PROTOCOL_SSE
	case "sse_post":
		protocol = common.GraphQLSubscriptionProtocol_GRAPHQL_SUBSCRIPTION_PROTOCOL_SSE_POST
	}
	sub := common.GraphQLWebsocketSubprotocol_GRAPHQL_WEBSOCKET_SUBPROTOCOL_AUTO
	switch src.Subscription.WSSubprotocol {
	case "graphql-ws":
		sub = common.GraphQLWebsocketSubprotocol_GRAPHQL_WEBSOCKET_SUBPROTOCOL_WS
	case "graphql-transport-ws":
		sub = common.GraphQLWebsocketSubprotocol_GRAPHQL_WEBSOCKET_SUBPROTOCOL_TRANSPORT_WS
	}
	ds.CustomGraphql.Subscription = &nodev1.GraphQLSubscriptionConfiguration{
		Enabled:              true,
		Url:                  &nodev1.ConfigurationVariable{StaticVariableContent: u},
		Protocol:             &protocol,
		WebsocketSubprotocol: &sub,
	}
	return nil
}

var (
	// The composer's errors come out of the JS VM as "Error: <msg> at fn (<eval>:l:c(n))".
	jsStackSuffix = regexp.MustCompile(`\s+at \S+ \(<eval>.*\)\s*$`)
	jsGraphName   = regexp.MustCompile(`\bGraph (\S+?):`)
)

// compositionError turns the composer's error into one message naming the subgraph(s)
// involved; the composer's own text already names the type and field.
func compositionError(err error, subgraphs []SubgraphSource) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "Error: ")
	msg = jsStackSuffix.ReplaceAllString(msg, "")
	msg = strings.TrimPrefix(msg, "could not federate schema: ")
	msg = jsGraphName.ReplaceAllString(msg, `subgraph "$1":`)

	// The composer joins its error list with ", " and often repeats an entry.
	var parts []string
	for _, p := range strings.Split(msg, "., ") {
		p = strings.TrimSpace(strings.TrimSuffix(p, "."))
		if p != "" && !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	msg = strings.Join(parts, ".\n") + "."
	// ... and repeats lines within an entry ("type X was never defined" per reference).
	lines := strings.Split(msg, "\n")
	// Start-up errors are one line each (SPEC section 2): fold the composer's lines.
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	msg = strings.Join(slices.Compact(lines), " ")

	var named []string
	for _, s := range subgraphs {
		if strings.Contains(msg, `"`+s.Name+`"`) {
			named = append(named, fmt.Sprintf("%q%s", s.Name, inFile(s.File)))
		}
	}
	switch len(named) {
	case 0:
		return fmt.Errorf("composition failed: %s", msg)
	case 1:
		return fmt.Errorf("composition failed: subgraph %s: %s", named[0], msg)
	default:
		return fmt.Errorf("composition failed: subgraphs %s: %s", strings.Join(named, ", "), msg)
	}
}
