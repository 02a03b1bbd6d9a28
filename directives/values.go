package directives

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
)

// Helpers that read constant argument values of directives.

// stringOf returns the value of a string literal, escapes resolved.
func (d *sdlDoc) stringOf(v ast.Value) (string, bool) {
	if v.Kind != ast.ValueKindString {
		return "", false
	}
	if d.doc.StringValueIsBlockString(v.Ref) {
		s := strings.Clone(d.doc.BlockStringValueContentString(v.Ref))
		return strings.ReplaceAll(s, `\"""`, `"""`), true
	}
	return unescapeGraphQLString(d.doc.StringValueContentString(v.Ref)), true
}

// listOf returns the items of a list value; a single non-list value is a list of one, as
// GraphQL's input coercion says.
func (d *sdlDoc) listOf(v ast.Value) []ast.Value {
	if v.Kind != ast.ValueKindList {
		return []ast.Value{v}
	}
	refs := d.doc.ListValues[v.Ref].Refs
	out := make([]ast.Value, len(refs))
	for i, ref := range refs {
		out[i] = d.doc.Values[ref]
	}
	return out
}

// objectField is one field of an object value.
type objectField struct {
	name  string
	value ast.Value
	line  int
}

func (d *sdlDoc) objectOf(v ast.Value) []objectField {
	refs := d.doc.ObjectValues[v.Ref].Refs
	out := make([]objectField, len(refs))
	for i, ref := range refs {
		f := d.doc.ObjectFields[ref]
		out[i] = objectField{name: d.text(f.Name), value: f.Value, line: d.lineAt(int(f.Name.Start))}
	}
	return out
}

// valueLine is the line of v, or fallback when the parser recorded none.
func valueLine(v ast.Value, fallback int) int {
	if v.Position.LineStart > 0 {
		return int(v.Position.LineStart)
	}
	return fallback
}

// kindName describes a value's kind for messages ("a string", "null", ...).
func kindName(v ast.Value) string {
	switch v.Kind {
	case ast.ValueKindString:
		return "a string"
	case ast.ValueKindBoolean:
		return "a boolean"
	case ast.ValueKindInteger:
		return "an integer"
	case ast.ValueKindFloat:
		return "a float"
	case ast.ValueKindVariable:
		return "a variable"
	case ast.ValueKindNull:
		return "null"
	case ast.ValueKindList:
		return "a list"
	case ast.ValueKindObject:
		return "an object"
	case ast.ValueKindEnum:
		return "an enum value"
	}
	return "an unknown value"
}

// unescapeGraphQLString resolves the escapes of a (non-block) GraphQL string: \" \\ \/ \b
// \f \n \r \t and \uXXXX (with surrogate pairs). An invalid escape is kept as written; the
// parser has already accepted the string.
func unescapeGraphQLString(raw string) string {
	if !strings.Contains(raw, `\`) {
		return strings.Clone(raw)
	}
	var sb strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 >= len(raw) {
			sb.WriteByte(c)
			continue
		}
		i++
		switch raw[i] {
		case '"', '\\', '/':
			sb.WriteByte(raw[i])
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r, n := readUnicodeEscape(raw[i+1:])
			if n == 0 {
				sb.WriteString(`\u`)
				continue
			}
			i += n
			if utf16.IsSurrogate(r) && strings.HasPrefix(raw[i+1:], `\u`) {
				if r2, n2 := readUnicodeEscape(raw[i+3:]); n2 > 0 {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 2 + n2
					}
				}
			}
			sb.WriteRune(r)
		default:
			sb.WriteByte('\\')
			sb.WriteByte(raw[i])
		}
	}
	return sb.String()
}

// readUnicodeEscape reads the 4 hex digits after \u; n is 0 when they are not there.
func readUnicodeEscape(s string) (r rune, n int) {
	if len(s) < 4 {
		return 0, 0
	}
	v, err := strconv.ParseUint(s[:4], 16, 32)
	if err != nil {
		return 0, 0
	}
	return rune(v), 4
}
