package resolve

import (
	"sync"

	"github.com/wundergraph/astjson"
	"github.com/wundergraph/go-arena"
	engine "github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"
)

// Most per-user subscriptions select what the event itself carries: the entity key,
// __typename, aliases of them. For those the general resolver (a resolve context, arenas,
// a fetch tree with nothing in it) costs many times the work of writing the result, and
// with a subject per subscriber it runs once per delivery. The fast path renders such a
// result straight from the event, byte for byte as the engine would: values are printed
// by the same JSON library. Anything it does not handle exactly like the engine (a value
// of the wrong type, a missing non-null field, an unknown __typename) makes it step
// aside, and the general resolver produces the result and its errors.

// eventRender renders the result of an operation whose plan has no fetches and whose
// selection holds only objects and leaf scalars.
type eventRender struct {
	data *engine.Object
}

// fastRenderFor returns the fast path for a subscription plan, or nil when the plan needs
// the general resolver.
func fastRenderFor(sub *engine.GraphQLSubscription) *eventRender {
	if sub == nil || sub.Response == nil || sub.Response.Data == nil {
		return nil
	}
	if _, isEvent := sub.Trigger.Source.(*eventTrigger); !isEvent {
		return nil
	}
	resp := sub.Response
	if len(resp.RawFetches) > 0 || hasFetch(resp.Fetches) || !renderable(resp.Data) {
		return nil
	}
	return &eventRender{data: resp.Data}
}

func hasFetch(n *engine.FetchTreeNode) bool {
	if n == nil {
		return false
	}
	if n.Item != nil && n.Item.Fetch != nil {
		return true
	}
	for _, c := range n.ChildNodes {
		if hasFetch(c) {
			return true
		}
	}
	return false
}

// renderable reports whether every field below obj is one the fast path prints exactly
// as the engine: no type conditions, @defer/@stream, authorization rules, lists, enums
// (whose values the engine checks) or custom nodes.
func renderable(obj *engine.Object) bool {
	for _, f := range obj.Fields {
		if f.Defer != nil || f.Stream != nil || f.OnTypeNames != nil || f.ParentOnTypeNames != nil {
			return false
		}
		if f.Info != nil && f.Info.HasAuthorizationRule {
			return false
		}
		switch v := f.Value.(type) {
		case *engine.Object:
			if !renderable(v) {
				return false
			}
		case *engine.String:
			if v.UnescapeResponseJson {
				return false
			}
		case *engine.Integer, *engine.Float, *engine.Boolean, *engine.Scalar, *engine.BigInt:
		default:
			return false
		}
	}
	return true
}

var fastParsers = sync.Pool{New: func() any { return new(astjson.Parser) }}

// eventArenas hold the parsed values of one event on the own-subject path: parsing into
// the heap was a dozen small allocations per event, and their garbage collection, for a
// value that lives for one render.
var eventArenas = sync.Pool{New: func() any { return arena.NewMonotonicArena(arena.WithMinBufferSize(eventArenaSize)) }}

const (
	eventArenaSize = 4 << 10
	// maxKeptArena is the most an arena may hold and go back to the pool: one large event
	// does not pin its memory.
	maxKeptArena = 64 << 10
)

func getArena() arena.Arena { return eventArenas.Get().(arena.Arena) }

// putArena returns a to the pool, emptied, unless an event made it large.
func putArena(a arena.Arena) {
	if a.Cap() <= maxKeptArena {
		a.Reset()
		eventArenas.Put(a)
	}
}

// answerArenas hold the parsed answers of the entity loader, up to entityBatchMax
// entities each: an arena finds room by trying its buffers in turn, so an answer in
// buffers of an event's size made each value cost a walk over dozens of them.
var answerArenas = sync.Pool{New: func() any { return arena.NewMonotonicArena(arena.WithMinBufferSize(answerArenaSize)) }}

const (
	answerArenaSize = 64 << 10
	maxKeptAnswer   = 1 << 20
)

func getAnswerArena() arena.Arena { return answerArenas.Get().(arena.Arena) }

func putAnswerArena(a arena.Arena) {
	if a.Cap() <= maxKeptAnswer {
		a.Reset()
		answerArenas.Put(a)
	}
}

// renderEvent is the whole event path of a group on the fast path, for an event that
// needs nothing of it but the render: it checks the event as eventData does and parses it
// once, where eventData and render took three passes (a copy without undeclared fields,
// one wrapped at the merge path, and the parse). ok is false when the event needs more
// (an undeclared field to drop, an error to report) or the render steps aside; the
// caller then takes the general path, which gives the same result for every event this
// one renders.
func (r *eventRender) renderEvent(data []byte, t *eventTrigger, merge []string) (_ []byte, ok bool) {
	data = withTypename(data, t.concrete)
	if checkEvent(data, t) != "" {
		return nil, false
	}
	a := getArena()
	defer putArena(a)
	// The arena copies data: every value it holds points into the arena only, which the
	// garbage collector does not scan.
	v, err := astjson.ParseBytesWithArena(a, data)
	if err != nil || !onlyDeclared(v, t.concrete, t.declared) {
		return nil, false
	}
	if t.fields != nil {
		projectValue(a, v, t.fields)
	}
	for i := len(merge) - 1; i >= 0; i-- {
		wrap := astjson.ObjectValue(a)
		wrap.Set(a, merge[i], v)
		v = wrap
	}
	dst := make([]byte, 0, len(data)+16)
	dst = append(dst, `{"data":`...)
	if dst, ok = renderObject(dst, r.data, v); !ok {
		return nil, false
	}
	return append(dst, '}'), true
}

// onlyDeclared reports whether keepDeclared would leave the event object v as it is: it
// has no top-level field that the event subgraph does not declare on its type.
func onlyDeclared(v *astjson.Value, concrete string, declared map[string]map[string]bool) bool {
	if len(declared) == 0 {
		return true
	}
	obj, err := v.Object()
	if err != nil {
		return false
	}
	typeName := concrete
	if t := v.Get("__typename"); t != nil && t.Type() == astjson.TypeString {
		typeName = string(t.GetStringBytes())
	}
	fields, ok := declared[typeName]
	if !ok {
		return true
	}
	all := true
	obj.Visit(func(key []byte, _ *astjson.Value) {
		if !fields[string(key)] {
			all = false
		}
	})
	return all
}

// render appends {"data":...} for the event data (the event wrapped at the merge path, as
// the general resolver gets it) to dst. ok is false when the general resolver must run.
func (r *eventRender) render(dst, data []byte) (_ []byte, ok bool) {
	p := fastParsers.Get().(*astjson.Parser)
	defer fastParsers.Put(p)
	v, err := p.ParseBytes(data)
	if err != nil {
		return dst, false
	}
	start := len(dst)
	dst = append(dst, `{"data":`...)
	if dst, ok = renderObject(dst, r.data, v); !ok {
		return dst[:start], false
	}
	return append(dst, '}'), true
}

func renderObject(dst []byte, obj *engine.Object, parent *astjson.Value) ([]byte, bool) {
	value := parent.Get(obj.Path...)
	if value == nil || value.Type() == astjson.TypeNull {
		if !obj.Nullable {
			return dst, false
		}
		return append(dst, "null"...), true
	}
	if value.Type() != astjson.TypeObject {
		return dst, false
	}
	if len(obj.PossibleTypes) > 0 {
		if tn := value.GetStringBytes("__typename"); tn != nil {
			if _, ok := obj.PossibleTypes[string(tn)]; !ok {
				return dst, false
			}
		}
	}
	dst = append(dst, '{')
	for i, f := range obj.Fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, f.Name...)
		dst = append(dst, '"', ':')
		var ok bool
		switch n := f.Value.(type) {
		case *engine.Object:
			dst, ok = renderObject(dst, n, value)
		case *engine.String:
			dst, ok = renderLeaf(dst, value.Get(n.Path...), n.Nullable, astjson.TypeString)
		case *engine.Integer:
			dst, ok = renderLeaf(dst, value.Get(n.Path...), n.Nullable, astjson.TypeNumber)
		case *engine.Float:
			dst, ok = renderLeaf(dst, value.Get(n.Path...), n.Nullable, astjson.TypeNumber)
		case *engine.Boolean:
			dst, ok = renderLeaf(dst, value.Get(n.Path...), n.Nullable, astjson.TypeTrue)
		case *engine.Scalar:
			dst, ok = renderLeaf(dst, value.Get(n.Path...), n.Nullable, anyType)
		case *engine.BigInt:
			dst, ok = renderLeaf(dst, value.Get(n.Path...), n.Nullable, anyType)
		}
		if !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

// anyType accepts every JSON value (custom scalars, BigInt).
const anyType astjson.Type = -1

func renderLeaf(dst []byte, v *astjson.Value, nullable bool, want astjson.Type) ([]byte, bool) {
	if astjson.ValueIsNull(v) {
		if !nullable {
			return dst, false
		}
		return append(dst, "null"...), true
	}
	switch t := v.Type(); {
	case want == anyType:
	case want == astjson.TypeTrue:
		if t != astjson.TypeTrue && t != astjson.TypeFalse {
			return dst, false
		}
	case t != want:
		return dst, false
	}
	return v.MarshalTo(dst), true
}
