// Package oplimit bounds the size and shape of a GraphQL document in one pass over its
// tokens, before the document is parsed: graphql-go-tools' normalization takes time
// quadratic in the operation's size and has no context, so an operation must be known to be
// small before it runs. Refusing an operation costs about as much as reading its bytes: the
// scan stops at the first limit exceeded.
//
// Fragment spreads are followed (with memoization, so a chain of fragments that each spread
// the next twice is counted without being expanded): the fields, aliases, depth and root
// fields of an operation are those it would have once its fragments were inlined.
package oplimit

import (
	"fmt"
	"math"
	"strings"
)

// Limits bound one document. A zero field turns that limit off.
type Limits struct {
	// Tokens bounds the lexical tokens (names, values, punctuators) of the document.
	Tokens int
	// Nesting bounds open brackets ({, [, () at any point, which bounds the recursion of
	// the parser and of the walkers that follow it.
	Nesting int
	// Depth bounds the fields on one path of an operation, fragments inlined: { a { b } }
	// is 2 deep.
	Depth int
	// Fields bounds the fields an operation selects, fragments inlined.
	Fields int
	// Aliases bounds the aliased fields of an operation, fragments inlined.
	Aliases int
	// RootFields bounds the fields of an operation's root selection set, fragments inlined.
	RootFields int
	// Fragments bounds the fragment definitions of the document.
	Fragments int
	// DirectivesPerLocation bounds the directives on one field, fragment, operation or
	// variable definition.
	DirectivesPerLocation int
	// Variables bounds the variable definitions of an operation.
	Variables int
}

// Limit names, which are also the keys of edgate's configuration under "limits".
const (
	KeyTokens                = "max_operation_tokens"
	KeyNesting               = "max_operation_nesting"
	KeyDepth                 = "max_query_depth"
	KeyFields                = "max_operation_fields"
	KeyAliases               = "max_operation_aliases"
	KeyRootFields            = "max_root_fields"
	KeyFragments             = "max_fragments"
	KeyDirectivesPerLocation = "max_directives_per_location"
	KeyVariables             = "max_variable_definitions"
)

// Error is a document over a limit.
type Error struct {
	// Key names the limit (Key* constants).
	Key string
	// Maximum is the limit's value.
	Maximum int
	Message string
	// Line and Column locate the token at which the limit was exceeded (from 1); 0 when
	// the limit is one of a whole operation.
	Line, Column int
}

func (e *Error) Error() string { return e.Message }

// Code is the error's extensions.code: the limit's key in upper case, then _EXCEEDED.
func (e *Error) Code() string { return strings.ToUpper(e.Key) + "_EXCEEDED" }

// InvalidError is a document whose fragments cannot be counted: a fragment defined twice,
// or a fragment that spreads itself. Such a document would fail validation; it is refused
// here because normalization, which runs before validation, would expand it.
type InvalidError struct{ Message string }

func (e *InvalidError) Error() string { return e.Message }

// Check scans query and returns an *Error for the first limit it exceeds, an
// *InvalidError for fragments that cannot be counted, or nil. Syntax errors are left to the
// parser: Check counts what it can and never fails on them.
func Check(query string, l Limits) error {
	s := scanner{src: query, limits: l}
	if err := s.scan(); err != nil {
		return err
	}
	return s.expand()
}

type frameKind uint8

const (
	selectionSet frameKind = iota
	arguments              // field or directive arguments
	variableDefinitions
	value // object or list value
)

// prevToken is what came before the current token in a frame, as far as counting needs it.
type prevToken uint8

const (
	prevOther           prevToken = iota
	prevAt                        // "@"
	prevDirective                 // the name after "@"
	prevSpread                    // "..."
	prevOn                        // "on" after "..."
	prevField                     // a field's name (or alias)
	prevColon                     // ":" after a field's alias
	prevFragmentKeyword           // "fragment" at the top level
)

type frame struct {
	kind frameKind
	prev prevToken
	// depth is the number of fields enclosing a selection set.
	depth int
	// directives counts the directives of the current location.
	directives int
	// fieldPending says the next "{" is the selection set of a field (not of an inline
	// fragment).
	fieldPending bool
}

// definition is one operation or fragment definition, as counted in its own text.
type definition struct {
	fragment                                 bool
	name                                     string
	fields, aliases, roots, depth, variables int
	spreads                                  []spread
}

type spread struct {
	name string
	// at is the number of fields enclosing the spread.
	at int
}

type scanner struct {
	src    string
	pos    int
	limits Limits

	tokens int
	stack  []frame
	// top is the document level's state: prev and directives of an operation's header.
	top  frame
	cur  *definition
	defs []*definition
	frag int
}

func (s *scanner) fail(key string, max int, at int, format string, args ...any) *Error {
	line, col := 1, 1
	for i := 0; i < at && i < len(s.src); i++ {
		if s.src[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &Error{Key: key, Maximum: max, Message: fmt.Sprintf(format, args...), Line: line, Column: col}
}

func over(n, max int) bool { return max > 0 && n > max }

func (s *scanner) scan() error {
	l := s.limits
	for {
		start, kind, text := s.next()
		if kind == tokEOF {
			return nil
		}
		s.tokens++
		if over(s.tokens, l.Tokens) {
			return s.fail(KeyTokens, l.Tokens, start, "the document has more than %d tokens (limits.%s)", l.Tokens, KeyTokens)
		}
		switch kind {
		case tokPunct:
			if err := s.punct(start, text[0]); err != nil {
				return err
			}
		case tokName:
			if err := s.name(start, text); err != nil {
				return err
			}
		case tokDots:
			f := s.frame()
			if f.kind == selectionSet {
				f.prev = prevSpread
				f.directives = 0
				f.fieldPending = false
			}
		default: // values
			s.frame().prev = prevOther
		}
	}
}

// frame is the innermost open bracket's state, or the document level's.
func (s *scanner) frame() *frame {
	if len(s.stack) == 0 {
		return &s.top
	}
	return &s.stack[len(s.stack)-1]
}

func (s *scanner) push(at int, f frame) error {
	s.stack = append(s.stack, f)
	if over(len(s.stack), s.limits.Nesting) {
		return s.fail(KeyNesting, s.limits.Nesting, at, "the document nests more than %d brackets (limits.%s)", s.limits.Nesting, KeyNesting)
	}
	return nil
}

func (s *scanner) punct(at int, p byte) error {
	f := s.frame()
	l := s.limits
	switch p {
	case '{':
		switch {
		case len(s.stack) == 0:
			if s.cur == nil { // query shorthand: { ... }
				s.begin(false)
			}
			return s.push(at, frame{kind: selectionSet})
		case f.kind == selectionSet:
			depth := f.depth
			if f.fieldPending {
				depth++
			}
			f.fieldPending = false
			f.prev = prevOther
			f.directives = 0
			return s.push(at, frame{kind: selectionSet, depth: depth})
		default:
			f.prev = prevOther
			return s.push(at, frame{kind: value})
		}
	case '[':
		f.prev = prevOther
		return s.push(at, frame{kind: value})
	case '(':
		kind := arguments
		if len(s.stack) == 0 && f.prev != prevDirective {
			kind = variableDefinitions
		}
		if f.prev != prevDirective {
			f.directives = 0
		}
		f.prev = prevOther
		return s.push(at, frame{kind: kind})
	case '}', ']', ')':
		if len(s.stack) == 0 {
			return nil // unbalanced: the parser reports it
		}
		s.stack = s.stack[:len(s.stack)-1]
		if len(s.stack) == 0 && p == '}' {
			s.end()
		}
		s.frame().prev = prevOther
		return nil
	case '@':
		f.directives++
		f.prev = prevAt
		if over(f.directives, l.DirectivesPerLocation) {
			return s.fail(KeyDirectivesPerLocation, l.DirectivesPerLocation, at, "more than %d directives on one location (limits.%s)", l.DirectivesPerLocation, KeyDirectivesPerLocation)
		}
		return nil
	case '$':
		if f.kind == variableDefinitions && s.cur != nil {
			f.directives = 0
			s.cur.variables++
			if over(s.cur.variables, l.Variables) {
				return s.fail(KeyVariables, l.Variables, at, "the operation defines more than %d variables (limits.%s)", l.Variables, KeyVariables)
			}
		}
		f.prev = prevOther
		return nil
	case ':':
		if f.kind == selectionSet && f.prev == prevField && s.cur != nil {
			s.cur.aliases++
			f.prev = prevColon
			if over(s.cur.aliases, l.Aliases) {
				return s.fail(KeyAliases, l.Aliases, at, "the operation has more than %d aliases (limits.%s)", l.Aliases, KeyAliases)
			}
			return nil
		}
		f.prev = prevOther
		return nil
	}
	f.prev = prevOther
	return nil
}

func (s *scanner) name(at int, name string) error {
	f := s.frame()
	if f.prev == prevAt {
		f.prev = prevDirective
		return nil
	}
	if len(s.stack) == 0 {
		switch {
		case s.cur == nil && name == "fragment":
			s.begin(true)
			f.prev = prevFragmentKeyword
			return nil
		case s.cur == nil:
			s.begin(false) // query, mutation, subscription (or a syntax error)
		case f.prev == prevFragmentKeyword:
			s.cur.name = name
		}
		f.prev = prevOther
		return nil
	}
	if f.kind != selectionSet || s.cur == nil {
		f.prev = prevOther
		return nil
	}
	switch f.prev {
	case prevSpread:
		if name == "on" {
			f.prev = prevOn
			return nil
		}
		s.cur.spreads = append(s.cur.spreads, spread{name: name, at: f.depth})
		f.prev = prevOther
		return nil
	case prevOn:
		f.prev = prevOther // type condition
		return nil
	case prevColon:
		f.prev = prevOther // the field's name after its alias
		return nil
	}
	l := s.limits
	c := s.cur
	c.fields++
	f.prev = prevField
	f.fieldPending = true
	f.directives = 0
	if over(c.fields, l.Fields) {
		return s.fail(KeyFields, l.Fields, at, "the operation selects more than %d fields (limits.%s)", l.Fields, KeyFields)
	}
	if f.depth == 0 {
		c.roots++
		if over(c.roots, l.RootFields) {
			return s.fail(KeyRootFields, l.RootFields, at, "the operation selects more than %d root fields (limits.%s)", l.RootFields, KeyRootFields)
		}
	}
	c.depth = max(c.depth, f.depth+1)
	if over(c.depth, l.Depth) {
		return s.fail(KeyDepth, l.Depth, at, "the operation is more than %d fields deep (limits.%s)", l.Depth, KeyDepth)
	}
	return nil
}

func (s *scanner) begin(fragment bool) {
	s.cur = &definition{fragment: fragment}
	s.defs = append(s.defs, s.cur)
	s.top = frame{}
}

func (s *scanner) end() {
	s.cur = nil
	s.top = frame{}
}

// counts are a definition's figures with its fragments inlined.
type counts struct{ fields, aliases, roots, depth int }

// expand checks each operation with its fragments inlined.
func (s *scanner) expand() error {
	l := s.limits
	fragments := make(map[string]*definition)
	for _, d := range s.defs {
		if !d.fragment {
			continue
		}
		s.frag++
		if over(s.frag, l.Fragments) {
			return &Error{Key: KeyFragments, Maximum: l.Fragments, Message: fmt.Sprintf("the document defines more than %d fragments (limits.%s)", l.Fragments, KeyFragments)}
		}
		if fragments[d.name] != nil {
			return &InvalidError{Message: fmt.Sprintf("there can be only one fragment named %q", d.name)}
		}
		fragments[d.name] = d
	}
	e := expander{fragments: fragments, done: make(map[string]counts), active: make(map[string]bool)}
	for _, d := range s.defs {
		if d.fragment {
			continue
		}
		c, err := e.counts(d)
		if err != nil {
			return err
		}
		switch {
		case over(c.fields, l.Fields):
			return &Error{Key: KeyFields, Maximum: l.Fields, Message: fmt.Sprintf("the operation selects more than %d fields once its fragments are inlined (limits.%s)", l.Fields, KeyFields)}
		case over(c.aliases, l.Aliases):
			return &Error{Key: KeyAliases, Maximum: l.Aliases, Message: fmt.Sprintf("the operation has more than %d aliases once its fragments are inlined (limits.%s)", l.Aliases, KeyAliases)}
		case over(c.roots, l.RootFields):
			return &Error{Key: KeyRootFields, Maximum: l.RootFields, Message: fmt.Sprintf("the operation selects more than %d root fields once its fragments are inlined (limits.%s)", l.RootFields, KeyRootFields)}
		case over(c.depth, l.Depth):
			return &Error{Key: KeyDepth, Maximum: l.Depth, Message: fmt.Sprintf("the operation is more than %d fields deep once its fragments are inlined (limits.%s)", l.Depth, KeyDepth)}
		}
	}
	return nil
}

type expander struct {
	fragments map[string]*definition
	done      map[string]counts
	active    map[string]bool
}

func (e *expander) counts(d *definition) (counts, error) {
	c := counts{fields: d.fields, aliases: d.aliases, roots: d.roots, depth: d.depth}
	for _, sp := range d.spreads {
		f := e.fragments[sp.name]
		if f == nil {
			continue // unknown fragment: validation reports it
		}
		fc, ok := e.done[sp.name]
		if !ok {
			if e.active[sp.name] {
				return counts{}, &InvalidError{Message: fmt.Sprintf("fragment %q spreads itself", sp.name)}
			}
			e.active[sp.name] = true
			var err error
			if fc, err = e.counts(f); err != nil {
				return counts{}, err
			}
			delete(e.active, sp.name)
			e.done[sp.name] = fc
		}
		c.fields = add(c.fields, fc.fields)
		c.aliases = add(c.aliases, fc.aliases)
		if sp.at == 0 {
			c.roots = add(c.roots, fc.roots)
		}
		if fc.depth > 0 {
			c.depth = max(c.depth, add(sp.at, fc.depth))
		}
	}
	return c, nil
}

// add saturates: a chain of fragments that each spread the next twice doubles per link.
func add(a, b int) int {
	if a > math.MaxInt32-b {
		return math.MaxInt32
	}
	return a + b
}
