package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/edgate/edgate/directives"
)

// CheckProviders reports the first binding whose provider id the config lacks, at the
// directive's line in its schema file, e.g.
//
//	events.graphql:12: @edfs__kafkaSubscribe on Subscription.kafkaEmployee names provider "my-kafka", but edgate.yaml has no events.providers.kafka entry with that id
//
// fileOf maps a subgraph name to the schema file named in messages; nil, or a result of "",
// names the subgraph instead.
func (c *Config) CheckProviders(bindings []directives.Binding, fileOf func(subgraph string) string) error {
	for _, b := range bindings {
		var ids []string
		switch b.Broker {
		case directives.NATS:
			for _, p := range c.Events.Providers.NATS {
				ids = append(ids, p.ID)
			}
		case directives.Kafka:
			for _, p := range c.Events.Providers.Kafka {
				ids = append(ids, p.ID)
			}
		case directives.Redis:
			for _, p := range c.Events.Providers.Redis {
				ids = append(ids, p.ID)
			}
		}
		id := b.ProviderID
		if id == "" {
			id = "default" // the directives' default
		}
		if slices.Contains(ids, id) {
			continue
		}
		file := ""
		if fileOf != nil {
			file = fileOf(b.Subgraph)
		}
		if file == "" {
			file = fmt.Sprintf("subgraph %q", b.Subgraph)
		}
		cfg := c.Path
		if cfg == "" {
			cfg = "the config"
		}
		return &Error{File: file, Line: b.Line, Msg: fmt.Sprintf(
			"%s on %s.%s names provider %q, but %s has no events.providers.%s entry with that id%s",
			directiveName(b), b.TypeName, b.FieldName, id, cfg, b.Broker, suggest(id, ids))}
	}
	return nil
}

// directiveName is the SDL directive a binding came from, e.g. @edfs__natsSubscribe.
func directiveName(b directives.Binding) string {
	action := b.Action.String()
	return "@edfs__" + string(b.Broker) + strings.ToUpper(action[:1]) + action[1:]
}
