package resolve

import (
	"github.com/wundergraph/astjson"
	"github.com/wundergraph/go-arena"
)

// The engine reads every field of an event from data[alias or name], but an event carries
// schema field names. A projection records the response keys the planner chose for the
// event's own fields and copies each value to its response key before resolution.

// projField is one field of the event data source in the planned operation.
type projField struct {
	key      string // alias or name: where the engine reads the value
	name     string // schema field name: where the event has it
	children []*projField
}

// needsProjection reports whether any field in the tree reads from a key other than its
// name; most operations use no aliases and skip the copy entirely.
func needsProjection(fields []*projField) bool {
	for _, f := range fields {
		if f.key != f.name || needsProjection(f.children) {
			return true
		}
	}
	return false
}

// project rewrites data (an event: a JSON object, or a list of them) so that every
// recorded field is also present under its response key. Original keys stay, because the
// planner may read key fields (for entity representations) by name as well.
func project(data []byte, fields []*projField) ([]byte, error) {
	v, err := astjson.ParseBytes(data)
	if err != nil {
		return nil, err
	}
	projectValue(nil, v, fields)
	return v.MarshalTo(nil), nil
}

// projectValue adds the response keys to v in place; a is the arena v was parsed into
// (nil: the heap), which the added keys must share.
func projectValue(a arena.Arena, v *astjson.Value, fields []*projField) {
	switch v.Type() {
	case astjson.TypeArray:
		items, _ := v.Array()
		for _, item := range items {
			projectValue(a, item, fields)
		}
	case astjson.TypeObject:
		obj, _ := v.Object()
		// Read every source value before writing, so that an alias that names another
		// field (`{ a: b, b: a }`) still reads the original values.
		values := make([]*astjson.Value, len(fields))
		for i, f := range fields {
			values[i] = obj.Get(f.name)
		}
		for i, f := range fields {
			val := values[i]
			if val == nil {
				continue
			}
			if len(f.children) > 0 {
				projectValue(a, val, f.children)
			}
			if f.key != f.name {
				obj.Set(a, f.key, val)
			}
		}
	}
}
