package schema

import (
	"strings"
	"testing"
)

func TestClientSchema_DropsInternalDirectivesAndTheirTypes(t *testing.T) {
	in := `directive @authenticated on FIELD_DEFINITION | OBJECT
directive @requiresScopes(scopes: [[openfed__Scope!]!]!) on FIELD_DEFINITION
directive @edfs__natsSubscribe(subjects: [String!]!, streamConfiguration: edfs__NatsStreamConfiguration) on FIELD_DEFINITION
directive @join__type(graph: join__Graph!) repeatable on OBJECT
directive @lowercase on FIELD
scalar openfed__Scope
enum join__Graph { A B }
input edfs__NatsStreamConfiguration { consumerName: String! streamName: String! }
"Kept: a user type."
type Query @authenticated {
  a: String @requiresScopes(scopes: [["x"]]) @deprecated(reason: "old")
  publish: edfs__PublishResult!
}
type edfs__PublishResult { success: Boolean! }
`
	got, err := clientSchema(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"authenticated", "requiresScopes", "openfed__Scope", "edfs__nats", "edfs__NatsStreamConfiguration", "join__"} {
		if strings.Contains(got, gone) {
			t.Errorf("%s is still in the client schema:\n%s", gone, got)
		}
	}
	for _, kept := range []string{"directive @lowercase on FIELD", `"Kept: a user type."`, `a: String @deprecated(reason: "old")`, "type edfs__PublishResult", "publish: edfs__PublishResult!"} {
		if !strings.Contains(got, kept) {
			t.Errorf("%q is missing from the client schema:\n%s", kept, got)
		}
	}
}
