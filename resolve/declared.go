package resolve

import (
	"bytes"

	"github.com/buger/jsonparser"
	"github.com/wundergraph/astjson"
)

// keepDeclared drops from an event (or request reply) the top-level fields that the event
// subgraph does not declare on the event's type. Such a field belongs to another subgraph,
// which the engine asks for it, and a value in the event would collide with that answer:
// a publish mutation sends all of its arguments, so `updateEmployee(id: 3)` publishes
// {"id":3,"name":null}, and that null name must not be merged with the name the employees
// subgraph resolves. concrete is the type of events without __typename. Events that carry
// only declared fields, as events normally do, are returned as they are, after a scan.
func keepDeclared(data []byte, concrete string, declared map[string]map[string]bool) []byte {
	if len(declared) == 0 {
		return data
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return data
	}
	switch trimmed[0] {
	case '{':
		if !hasUndeclared(trimmed, concrete, declared) {
			return data
		}
	case '[':
		any := false
		_, _ = jsonparser.ArrayEach(trimmed, func(item []byte, typ jsonparser.ValueType, _ int, _ error) {
			if typ == jsonparser.Object && hasUndeclared(item, concrete, declared) {
				any = true
			}
		})
		if !any {
			return data
		}
	default:
		return data
	}
	v, err := astjson.ParseBytes(trimmed)
	if err != nil {
		return data // reported where the event is checked
	}
	dropUndeclared(v, concrete, declared)
	return v.MarshalTo(nil)
}

// fieldsOf returns the declared fields of the event's type: its __typename, or concrete
// when it has none. (The lookup with string(bytes) does not allocate.)
func fieldsOf(obj []byte, concrete string, declared map[string]map[string]bool) (map[string]bool, bool) {
	if t, typ, _, err := jsonparser.Get(obj, "__typename"); err == nil && typ == jsonparser.String {
		fields, ok := declared[string(t)]
		return fields, ok
	}
	fields, ok := declared[concrete]
	return fields, ok
}

func hasUndeclared(obj []byte, concrete string, declared map[string]map[string]bool) bool {
	fields, ok := fieldsOf(obj, concrete, declared)
	if !ok {
		return false // not an entity of the subgraph: the event check reports it
	}
	found := false
	_ = jsonparser.ObjectEach(obj, func(key, _ []byte, _ jsonparser.ValueType, _ int) error {
		if !fields[string(key)] {
			found = true
		}
		return nil
	})
	return found
}

func dropUndeclared(v *astjson.Value, concrete string, declared map[string]map[string]bool) {
	switch v.Type() {
	case astjson.TypeArray:
		items, _ := v.Array()
		for _, item := range items {
			dropUndeclared(item, concrete, declared)
		}
	case astjson.TypeObject:
		typeName := concrete
		if t := v.GetStringBytes("__typename"); t != nil {
			typeName = string(t)
		}
		fields, ok := declared[typeName]
		if !ok {
			return
		}
		obj, _ := v.Object()
		var drop []string
		obj.Visit(func(key []byte, _ *astjson.Value) {
			if !fields[string(key)] {
				drop = append(drop, string(key))
			}
		})
		for _, k := range drop {
			obj.Del(k)
		}
	}
}
