package demo

// eventsSDL is the quickstart's event-driven subgraph. It has no server: the gateway
// serves its fields from NATS. The edfs__ directive definitions are left out on purpose
// (the gateway knows them). Events carry the Employee key; the gateway resolves the
// other fields from the employees subgraph.
const eventsSDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@external"])

type Mutation {
  updateEmployee(id: Int!, name: String): edfs__PublishResult! @edfs__natsPublish(subject: "employeeUpdated.{{ args.id }}")
}

type Subscription {
  employeeUpdated(id: Int!): Employee! @edfs__natsSubscribe(subjects: ["employeeUpdated.{{ args.id }}"])
  employeeUpdates: Employee! @edfs__natsSubscribe(subjects: ["employeeUpdated.*"])
}

type Employee @key(fields: "id", resolvable: false) {
  id: Int! @external
}

type edfs__PublishResult {
  success: Boolean!
}
`

// EventsSDL returns the event subgraph SDL of the quickstart (NATS provider "default").
func EventsSDL() string {
	return eventsSDL
}
