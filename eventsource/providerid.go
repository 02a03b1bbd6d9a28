package eventsource

import "strings"

// ProviderID identifies a configured broker connection: its kind and the id that the
// configuration and directives' providerId name. Ids are scoped by kind (a NATS and a
// Kafka provider may both be "default"), so the registry keys providers by String,
// "kind/id" ("nats/default").
type ProviderID struct {
	// Kind is "nats", "kafka" or "redis" (Provider.Kind).
	Kind string
	// ID is the provider's id within its kind, e.g. "default".
	ID string
}

// String is the provider's registry id, "kind/id".
func (p ProviderID) String() string { return p.Kind + "/" + p.ID }

// providerIDOf is the ProviderID of a registered provider: its registry id split at the
// "/" that follows its kind, or the whole registry id for a provider registered without
// one (test providers such as NewMemory("mem")).
func providerIDOf(p Provider) ProviderID {
	if id, ok := strings.CutPrefix(p.ID(), p.Kind()+"/"); ok {
		return ProviderID{Kind: p.Kind(), ID: id}
	}
	return ProviderID{Kind: p.Kind(), ID: p.ID()}
}
