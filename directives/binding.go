// Package directives parses the Cosmo-compatible event directives (@edfs__natsSubscribe,
// @edfs__kafkaPublish, @openfed__subscriptionFilter, ...) of a subgraph SDL into typed
// bindings, renders their {{ args.x }} templates safely, and rewrites an event subgraph into
// plain entity-key form so that any Federation composer accepts it.
package directives

// Broker names the kind of message broker a binding talks to.
type Broker string

const (
	NATS  Broker = "nats"
	Kafka Broker = "kafka"
	Redis Broker = "redis"
)

// Action is what a bound root field does with the broker.
type Action int

const (
	// Subscribe: a Subscription field fed by events on one or more subjects.
	Subscribe Action = iota
	// Publish: a Mutation field that publishes the JSON of its arguments and returns
	// edfs__PublishResult.
	Publish
	// Request: a Query field that sends its arguments as a NATS request and resolves the
	// reply as the returned entity.
	Request
)

func (a Action) String() string {
	switch a {
	case Subscribe:
		return "subscribe"
	case Publish:
		return "publish"
	case Request:
		return "request"
	}
	return "unknown"
}

// Binding ties one root field of an event subgraph to a broker operation.
type Binding struct {
	Subgraph   string // subgraph name the binding was declared in
	TypeName   string // root type as named in the SDL: "Subscription", "Mutation" or "Query" unless a schema definition renames it
	FieldName  string
	Action     Action
	Broker     Broker
	ProviderID string // defaults to "default"
	// Subjects holds the NATS subjects, Kafka topics or Redis channels. Publish and request
	// bindings have exactly one.
	Subjects []Template
	// Stream is set for @edfs__natsSubscribe(streamConfiguration: ...) (JetStream).
	Stream *StreamConfig
	// Filter is the field's @openfed__subscriptionFilter condition, if any.
	Filter *Filter
	// Line is the 1-based SDL line of the directive, for error messages.
	Line int
}

// StreamConfig is edfs__NatsStreamConfiguration.
type StreamConfig struct {
	StreamName   string
	ConsumerName string
	// ConsumerInactiveThreshold in seconds; 0 means the server default (Cosmo uses 30).
	ConsumerInactiveThreshold int32
}

// Filter is one node of an @openfed__subscriptionFilter condition. Exactly one of the fields is set.
type Filter struct {
	And []Filter
	Or  []Filter
	Not *Filter
	In  *FilterIn
}

// FilterIn matches when the event's value at FieldPath equals one of Values.
type FilterIn struct {
	FieldPath []string
	// Values are JSON literals as written in the SDL (strings stay quoted, numbers as
	// written); a value may be a {{ args.x }} template, which the engine expands at
	// subscription time.
	Values []string
}
