package schema

import (
	"errors"
	"fmt"
	"os"

	"github.com/edgate/edgate/directives"
	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// LoadExecutionConfig reads a Cosmo execution config (the JSON `wgc router compose`
// writes). Its PUBSUB data sources become event subgraphs, their NATS, Kafka and Redis
// events become bindings, and the subscription filter conditions of the field
// configurations are attached to the matching bindings.
func LoadExecutionConfig(path string) (*Supergraph, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("execution config: %w", err)
	}
	cfg := &nodev1.RouterConfig{}
	// Unknown fields are skipped so that configs of newer wgc versions still load.
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, cfg); err != nil {
		return nil, fmt.Errorf("execution config %s: %w", path, err)
	}
	sg, err := supergraphFromConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("execution config %s: %w", path, err)
	}
	return sg, nil
}

func supergraphFromConfig(cfg *nodev1.RouterConfig) (*Supergraph, error) {
	engine := cfg.GetEngineConfig()
	if engine == nil || engine.GetGraphqlSchema() == "" {
		return nil, errors.New("no engineConfig with a graphqlSchema")
	}
	sg := &Supergraph{Config: cfg}
	for _, ds := range engine.GetDatasourceConfigurations() {
		if ds.GetKind() != nodev1.DataSourceKind_PUBSUB {
			continue
		}
		name := sg.subgraphName(ds.GetId())
		if name == "" {
			return nil, fmt.Errorf("PUBSUB data source %q belongs to no subgraph", ds.GetId())
		}
		sg.EventSubgraphs = append(sg.EventSubgraphs, name)
		bindings, err := eventBindings(name, ds.GetCustomEvents())
		if err != nil {
			return nil, fmt.Errorf("subgraph %q: %w", name, err)
		}
		sg.Bindings = append(sg.Bindings, bindings...)
	}
	for _, fc := range engine.GetFieldConfigurations() {
		if fc.SubscriptionFilterCondition == nil {
			continue
		}
		filter, err := bindingFilter(fc.GetSubscriptionFilterCondition())
		if err != nil {
			return nil, fmt.Errorf("subscription filter on %s.%s: %w", fc.GetTypeName(), fc.GetFieldName(), err)
		}
		for i := range sg.Bindings {
			b := &sg.Bindings[i]
			if b.TypeName == fc.GetTypeName() && b.FieldName == fc.GetFieldName() {
				b.Filter = filter
			}
		}
	}
	return sg, nil
}

func eventBindings(subgraph string, events *nodev1.DataSourceCustomEvents) ([]directives.Binding, error) {
	var out []directives.Binding
	add := func(broker directives.Broker, ev *nodev1.EngineEventConfiguration, subjects []string, stream *nodev1.NatsStreamConfiguration) error {
		b := directives.Binding{
			Subgraph:   subgraph,
			TypeName:   ev.GetTypeName(),
			FieldName:  ev.GetFieldName(),
			Broker:     broker,
			ProviderID: ev.GetProviderId(),
		}
		if b.ProviderID == "" {
			b.ProviderID = "default"
		}
		switch ev.GetType() {
		case nodev1.EventType_SUBSCRIBE:
			b.Action = directives.Subscribe
		case nodev1.EventType_PUBLISH:
			b.Action = directives.Publish
		case nodev1.EventType_REQUEST:
			b.Action = directives.Request
		default:
			return fmt.Errorf("%s.%s: unknown event type %s", b.TypeName, b.FieldName, ev.GetType())
		}
		if len(subjects) == 0 {
			return fmt.Errorf("%s.%s: %s event without subjects", b.TypeName, b.FieldName, broker)
		}
		for _, s := range subjects {
			t, err := directives.ParseTemplate(s)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", b.TypeName, b.FieldName, err)
			}
			b.Subjects = append(b.Subjects, t)
		}
		if stream != nil && stream.GetStreamName() != "" {
			b.Stream = &directives.StreamConfig{
				StreamName:                stream.GetStreamName(),
				ConsumerName:              stream.GetConsumerName(),
				ConsumerInactiveThreshold: stream.GetConsumerInactiveThreshold(),
			}
		}
		out = append(out, b)
		return nil
	}
	for _, n := range events.GetNats() {
		if err := add(directives.NATS, n.GetEngineEventConfiguration(), n.GetSubjects(), n.GetStreamConfiguration()); err != nil {
			return nil, err
		}
	}
	for _, k := range events.GetKafka() {
		if err := add(directives.Kafka, k.GetEngineEventConfiguration(), k.GetTopics(), nil); err != nil {
			return nil, err
		}
	}
	for _, r := range events.GetRedis() {
		if err := add(directives.Redis, r.GetEngineEventConfiguration(), r.GetChannels(), nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
