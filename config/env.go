package config

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// expandEnv rewrites every scalar value (never a key) of the tree, replacing ${NAME} and
// ${NAME:-default} with the environment, and $$ with $. An unset variable without a default
// is an error rather than "": a typo in a variable name should stop start-up, not connect
// to the wrong place; ${NAME:-} opts into empty.
//
// A value holding a ${...} reference is typed from its expanded text, quoted or not (flow
// mappings need the quotes: { queue_size: "${QUEUE}" }), so that it can fill an integer or
// a boolean; one that expands to nothing counts as not set, so the key's default applies.
// Only an explicit tag (!!str "${X}") keeps its type.
func (d *decoder) expandEnv(n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if err := d.expandEnv(c); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if err := d.expandEnv(n.Content[i]); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return nil
		}
		v, substituted, err := expand(n.Value, os.LookupEnv)
		if err != nil {
			return d.errorf(n.Line, "%v", err)
		}
		n.Value = v
		if !substituted || n.Style&yaml.TaggedStyle != 0 {
			return nil
		}
		n.Style = 0
		if v == "" {
			n.Tag = "!!null"
		} else {
			n.Tag = "" // resolved again from the new text
		}
	}
	// Alias nodes point at a node that is expanded where its anchor is defined.
	return nil
}

// expand substitutes ${NAME}, ${NAME:-default} and $$ in s, and says whether it substituted
// a ${...} reference. A "$" followed by anything else is kept as written, so passwords
// holding "$" need no escaping unless a "{" follows.
func expand(s string, lookup func(string) (string, bool)) (out string, substituted bool, err error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", false, fmt.Errorf("unterminated %q (write $$ for a literal $)", s[i:])
			}
			ref := s[i+2 : i+2+end]
			name, def, hasDef := strings.Cut(ref, ":-")
			if !validEnvName(name) {
				return "", false, fmt.Errorf("invalid environment variable reference ${%s} (want ${NAME} or ${NAME:-default}; write $$ for a literal $)", ref)
			}
			v, ok := lookup(name)
			switch {
			case hasDef && v == "":
				v = def
			case !ok:
				return "", false, fmt.Errorf("environment variable %s is not set (write ${%s:-} to allow it to be empty)", name, name)
			}
			b.WriteString(v)
			substituted = true
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), substituted, nil
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
