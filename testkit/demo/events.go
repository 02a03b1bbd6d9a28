package demo

import _ "embed"

// eventsSDL is the quickstart's event-driven subgraph. It has no server: the gateway
// serves its fields from NATS. The edfs__ directive definitions are left out on purpose
// (the gateway knows them). Events carry the Employee key; the gateway resolves the
// other fields from the employees subgraph.
//
//go:embed events.graphql
var eventsSDL string

// EventsSDL returns the event subgraph SDL of the quickstart (NATS provider "default").
func EventsSDL() string {
	return eventsSDL
}
