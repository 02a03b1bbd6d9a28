package config

import (
	"testing"

	"github.com/edgate/edgate/directives"
)

func TestCheckProviders(t *testing.T) {
	c := mustLoad(t, `subgraphs: [ { name: events, schema: { file: events.graphql } } ]
events:
  providers:
    nats: [ { id: default } ]
    kafka: [ { id: my-kafka, brokers: ["127.0.0.1:9092"] } ]
    redis: [ { id: cache, urls: ["redis://127.0.0.1:6379"] } ]
`, "events.graphql")
	fileOf := func(subgraph string) string { return subgraph + ".graphql" }

	ok := []directives.Binding{
		{Subgraph: "events", TypeName: "Subscription", FieldName: "a", Action: directives.Subscribe, Broker: directives.NATS, ProviderID: "default", Line: 3},
		{Subgraph: "events", TypeName: "Mutation", FieldName: "b", Action: directives.Publish, Broker: directives.Kafka, ProviderID: "my-kafka", Line: 4},
		{Subgraph: "events", TypeName: "Subscription", FieldName: "c", Action: directives.Subscribe, Broker: directives.Redis, ProviderID: "cache", Line: 5},
	}
	if err := c.CheckProviders(ok, fileOf); err != nil {
		t.Fatalf("all providers configured: %v", err)
	}

	cases := []struct {
		name    string
		binding directives.Binding
		fileOf  func(string) string
		want    string
	}{
		{
			name:    "kafka id missing",
			binding: directives.Binding{Subgraph: "events", TypeName: "Subscription", FieldName: "kafkaEmployee", Action: directives.Subscribe, Broker: directives.Kafka, ProviderID: "other-kafka", Line: 12},
			fileOf:  fileOf,
			want:    `events.graphql:12: @edfs__kafkaSubscribe on Subscription.kafkaEmployee names provider "other-kafka", but edgate.yaml has no events.providers.kafka entry with that id`,
		},
		{
			name:    "same id exists only for another broker",
			binding: directives.Binding{Subgraph: "events", TypeName: "Query", FieldName: "employee", Action: directives.Request, Broker: directives.NATS, ProviderID: "cache", Line: 7},
			fileOf:  fileOf,
			want:    `events.graphql:7: @edfs__natsRequest on Query.employee names provider "cache", but edgate.yaml has no events.providers.nats entry with that id`,
		},
		{
			name:    "close id is suggested",
			binding: directives.Binding{Subgraph: "events", TypeName: "Mutation", FieldName: "publish", Action: directives.Publish, Broker: directives.Redis, ProviderID: "cahce", Line: 9},
			fileOf:  fileOf,
			want:    `events.graphql:9: @edfs__redisPublish on Mutation.publish names provider "cahce", but edgate.yaml has no events.providers.redis entry with that id (did you mean "cache"?)`,
		},
		{
			name:    "no file known names the subgraph",
			binding: directives.Binding{Subgraph: "events", TypeName: "Subscription", FieldName: "x", Action: directives.Subscribe, Broker: directives.Redis, ProviderID: "default", Line: 2},
			want:    `subgraph "events":2: @edfs__redisSubscribe on Subscription.x names provider "default", but edgate.yaml has no events.providers.redis entry with that id`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.CheckProviders(append(ok[:len(ok):len(ok)], tc.binding), tc.fileOf)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
}
