package schema

import (
	"os"
	"slices"

	"github.com/edgate/edgate/directives"
	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
)

// Supergraph is a composed federated graph: the Cosmo router config plus the event
// bindings of its event subgraphs. It is immutable once returned by Compose or
// LoadExecutionConfig; Build may be called on it any number of times.
type Supergraph struct {
	Config   *nodev1.RouterConfig
	Bindings []directives.Binding
	// EventSubgraphs names the subgraphs whose root fields are served by events; their
	// data sources are built by BuildOptions.EventFactory.
	EventSubgraphs []string
}

// IsEventSubgraph reports whether the named subgraph is served by events.
func (s *Supergraph) IsEventSubgraph(name string) bool {
	return slices.Contains(s.EventSubgraphs, name)
}

// BindingsOf returns the bindings declared in the named subgraph.
func (s *Supergraph) BindingsOf(subgraph string) []directives.Binding {
	var out []directives.Binding
	for _, b := range s.Bindings {
		if b.Subgraph == subgraph {
			out = append(out, b)
		}
	}
	return out
}

// subgraphName maps a data source id to its subgraph's name ("" if unknown).
func (s *Supergraph) subgraphName(dataSourceID string) string {
	for _, sg := range s.Config.GetSubgraphs() {
		if sg.GetId() == dataSourceID {
			return sg.GetName()
		}
	}
	return ""
}

func (s *Supergraph) dataSourceOf(subgraph string) *nodev1.DataSourceConfiguration {
	for _, sg := range s.Config.GetSubgraphs() {
		if sg.GetName() != subgraph {
			continue
		}
		for _, ds := range s.Config.GetEngineConfig().GetDatasourceConfigurations() {
			if ds.GetId() == sg.GetId() {
				return ds
			}
		}
	}
	return nil
}

// configVariable resolves a Cosmo configuration variable: static content, or an
// environment variable with its default. Placeholders have no value outside Cosmo's
// control plane and resolve to "".
func configVariable(v *nodev1.ConfigurationVariable) string {
	if v == nil {
		return ""
	}
	switch v.GetKind() {
	case nodev1.ConfigurationVariableKind_STATIC_CONFIGURATION_VARIABLE:
		return v.GetStaticVariableContent()
	case nodev1.ConfigurationVariableKind_ENV_CONFIGURATION_VARIABLE:
		if val, ok := os.LookupEnv(v.GetEnvironmentVariableName()); ok && v.GetEnvironmentVariableName() != "" {
			return val
		}
		return v.GetEnvironmentVariableDefaultValue()
	}
	return ""
}
