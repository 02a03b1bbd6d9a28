package directives

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// RenderError is a template that could not be rendered from a request's arguments. Its
// message is meant for the client (it becomes a GraphQL error), so it names the argument,
// the template and the offending value.
type RenderError struct {
	Broker   Broker
	Template string // the template as written, e.g. "employeeUpdated.{{ args.id }}"
	Argument string // dotted argument path, e.g. "input.id"; "" when the arguments are unusable as a whole
	Reason   string
}

func (e *RenderError) Error() string {
	if e.Argument == "" {
		return fmt.Sprintf("cannot render %s %q: %s", e.Broker.noun(), e.Template, e.Reason)
	}
	return fmt.Sprintf("invalid value for argument %q in %s %q: %s", e.Argument, e.Broker.noun(), e.Template, e.Reason)
}

// noun is what the broker calls the name a message is sent to.
func (b Broker) noun() string {
	switch b {
	case Kafka:
		return "topic"
	case Redis:
		return "channel"
	}
	return "subject"
}

// kafkaMaxTopicLength is Kafka's limit on topic names.
const kafkaMaxTopicLength = 249

// Render substitutes the placeholders from args, the JSON object of the field's arguments
// (e.g. {"id":1,"input":{"id":"a"}}). Strings render unquoted, numbers as written and
// booleans as true/false; null, a missing value, an object or a list is an error. A value
// that would change the structure of the subject is an error too, so that a client can never
// widen a subscription or publish elsewhere by choosing an argument: for NATS any '.', '*',
// '>' or whitespace; for Redis a glob character ('*', '?', '[', ']', '\') or whitespace; for
// Kafka anything outside [A-Za-z0-9._-]; and for all an empty value. Errors are *RenderError.
func (t Template) Render(broker Broker, args []byte) (string, error) {
	switch broker {
	case NATS, Kafka, Redis:
	default:
		return "", fmt.Errorf("render %q: unknown broker %q", t.raw, broker)
	}
	if !t.HasArguments() {
		return t.raw, nil
	}
	obj, err := decodeArguments(args)
	if err != nil {
		return "", &RenderError{Broker: broker, Template: t.raw, Reason: err.Error()}
	}
	// Built on the stack and copied once: the subject lives as long as its subscription,
	// and a builder's doublings would leave it in a larger size class.
	var scratch [128]byte
	sb := scratch[:0]
	for _, p := range t.parts {
		if p.path == nil {
			sb = append(sb, p.text...)
			continue
		}
		v, err := renderArgument(broker, obj, p.path)
		if err != nil {
			return "", &RenderError{Broker: broker, Template: t.raw, Argument: strings.Join(p.path, "."), Reason: err.Error()}
		}
		sb = append(sb, v...)
	}
	out := string(sb)
	if broker == Kafka && len(out) > kafkaMaxTopicLength {
		return "", &RenderError{Broker: broker, Template: t.raw,
			Reason: fmt.Sprintf("the rendered topic is %d characters long, more than Kafka's %d", len(out), kafkaMaxTopicLength)}
	}
	return out, nil
}

// RenderSubjects renders every subject (topic, channel) of the binding with Render.
func (b *Binding) RenderSubjects(args []byte) ([]string, error) {
	out := make([]string, 0, len(b.Subjects))
	for _, s := range b.Subjects {
		r, err := s.Render(b.Broker, args)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func decodeArguments(args []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(args)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("the arguments are not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("the arguments are not a single JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the arguments are not a JSON object")
	}
	return obj, nil
}

// renderArgument looks up path in the arguments and returns its text, checked for broker.
func renderArgument(broker Broker, obj map[string]any, path []string) (string, error) {
	var cur any = obj
	for i, seg := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", fmt.Errorf("%q is not an object", strings.Join(path[:i], "."))
		}
		cur, ok = m[seg]
		if !ok {
			return "", errors.New("the value is missing")
		}
	}
	var s string
	switch v := cur.(type) {
	case nil:
		return "", errors.New("null is not allowed")
	case string:
		s = v
	case json.Number:
		s = v.String()
	case bool:
		if v {
			s = "true"
		} else {
			s = "false"
		}
	case map[string]any:
		return "", errors.New("an object is not allowed, only a string, number or boolean")
	case []any:
		return "", errors.New("a list is not allowed, only a string, number or boolean")
	default:
		return "", fmt.Errorf("unsupported value of type %T", v)
	}
	if reason := unsafeValue(broker, s); reason != "" {
		return "", fmt.Errorf("%q %s", s, reason)
	}
	return s, nil
}

// unsafeValue says why s must not be substituted into a name for broker, or "" when it may.
func unsafeValue(broker Broker, s string) string {
	noun := broker.noun()
	if s == "" {
		return "is empty, which would change the " + noun
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		if unicode.IsSpace(r) {
			return "contains whitespace, which would change the " + noun
		}
		if unicode.IsControl(r) {
			return "contains a control character, which would change the " + noun
		}
		switch broker {
		case NATS:
			if r == '.' || r == '*' || r == '>' {
				return fmt.Sprintf("contains %q, which would change the subject", r)
			}
		case Redis:
			if strings.ContainsRune(`*?[]\`, r) {
				return fmt.Sprintf("contains %q, which would change the channel", r)
			}
		case Kafka:
			if !isKafkaTopicRune(r) {
				return fmt.Sprintf("contains %q, which is not allowed in a Kafka topic (only A-Z, a-z, 0-9, '.', '_', '-')", r)
			}
		}
	}
	return ""
}

func isKafkaTopicRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}
