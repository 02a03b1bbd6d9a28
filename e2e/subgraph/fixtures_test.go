package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgate/edgate/testkit/demo"
)

// The e2e suite composes the gateway from SDL files; they must stay the demo's schemas,
// or the suite would test a graph the demo subgraph does not serve.
func TestFixtures_MatchTheDemoSchemas(t *testing.T) {
	for file, want := range map[string]string{
		"events.graphql":    demo.EventsSDL(),
		"employees.graphql": demo.EmployeesSDL,
	} {
		got, err := os.ReadFile(filepath.Join("..", "fixtures", file))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("e2e/fixtures/%s differs from the demo package's SDL; copy it again", file)
		}
	}
}
