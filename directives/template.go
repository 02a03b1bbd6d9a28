package directives

import (
	"fmt"
	"strings"
)

// Template is a subject, topic or channel that may hold {{ args.NAME }} placeholders, each
// replaced at subscription (or publish) time by the value of a field argument. The zero
// value is the empty template.
type Template struct {
	raw   string
	parts []templatePart
}

// templatePart is literal text when path is nil, else a placeholder for args.<path>.
type templatePart struct {
	text string
	path []string
}

const argsPrefix = "args."

// ParseTemplate parses s, which must only hold well-formed placeholders:
// "{{ args.NAME }}" or "{{ args.NAME.FIELD... }}", whitespace inside the braces optional.
// A stray "{{" or "}}" is an error rather than literal text, since it is almost always a typo
// that would otherwise subscribe to a subject no publisher uses.
func ParseTemplate(s string) (Template, error) {
	t := Template{raw: s}
	rest := s
	for rest != "" {
		open := strings.Index(rest, "{{")
		closing := strings.Index(rest, "}}")
		if closing >= 0 && (open < 0 || closing < open) {
			return Template{}, fmt.Errorf("template %q has \"}}\" without a matching \"{{\"", s)
		}
		if open < 0 {
			t.parts = append(t.parts, templatePart{text: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, templatePart{text: rest[:open]})
		}
		end := strings.Index(rest[open+2:], "}}")
		if end < 0 {
			return Template{}, fmt.Errorf("template %q has \"{{\" without a matching \"}}\"", s)
		}
		inner := rest[open+2 : open+2+end]
		path, err := parsePlaceholder(inner)
		if err != nil {
			return Template{}, fmt.Errorf("template %q: invalid placeholder \"{{%s}}\": %v", s, inner, err)
		}
		t.parts = append(t.parts, templatePart{path: path})
		rest = rest[open+2+end+2:]
	}
	return t, nil
}

// parsePlaceholder parses what is between "{{" and "}}".
func parsePlaceholder(inner string) ([]string, error) {
	expr := strings.Trim(inner, " \t\r\n")
	if !strings.HasPrefix(expr, argsPrefix) {
		return nil, fmt.Errorf("want {{ args.NAME }}")
	}
	path := strings.Split(expr[len(argsPrefix):], ".")
	for _, seg := range path {
		if !isName(seg) {
			return nil, fmt.Errorf("want {{ args.NAME }} or {{ args.NAME.FIELD }}, where each name is a GraphQL name")
		}
	}
	return path, nil
}

// isName reports whether s is a GraphQL name: /[_A-Za-z][_0-9A-Za-z]*/.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// String returns the template as written in the SDL.
func (t Template) String() string { return t.raw }

// HasArguments reports whether the template holds at least one placeholder.
func (t Template) HasArguments() bool {
	for _, p := range t.parts {
		if p.path != nil {
			return true
		}
	}
	return false
}

// ArgumentPaths returns the argument path of each placeholder in order, e.g.
// {{ args.input.id }} gives ["input", "id"]. The slices are copies.
func (t Template) ArgumentPaths() [][]string {
	var paths [][]string
	for _, p := range t.parts {
		if p.path != nil {
			paths = append(paths, append([]string(nil), p.path...))
		}
	}
	return paths
}
