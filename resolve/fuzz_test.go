package resolve

import (
	"encoding/json"
	"testing"
)

// FuzzEventPayload: any event payload is either explained as invalid or accepted with its
// type and key, never a panic; adding the concrete __typename keeps a JSON object a JSON
// object.
func FuzzEventPayload(f *testing.F) {
	for _, s := range []string{
		`{"__typename":"Employee","id":1}`, `{"id":1}`, `{"__typename":"Product","upc":"a"}`, `{}`, ` { } `,
		`{"__typename":1}`, `{"__typename":"Employee","id":}`, `[1]`, `null`, `{"a":"\u00`, "{\"id\":1,}",
	} {
		f.Add([]byte(s))
	}
	trigger := &eventTrigger{
		field:    "employeeUpdated",
		keys:     map[string][][]string{"Employee": {{"id"}}, "Product": {{"upc"}, {"sku", "id"}}},
		concrete: "Employee",
	}
	union := &eventTrigger{field: "catalogChanged", keys: trigger.keys}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = checkEvent(data, union)
		withType := withTypename(data, trigger.concrete)
		var v any
		if json.Unmarshal(data, &v) == nil {
			if _, isObject := v.(map[string]any); isObject && !json.Valid(withType) {
				t.Fatalf("%q became %q", data, withType)
			}
		}
		if checkEvent(withType, trigger) == "" {
			var m map[string]any
			if json.Unmarshal(withType, &m) != nil {
				t.Fatalf("accepted %q, which is not a JSON object", withType)
			}
		}
	})
}
