package directives

// A minimal GraphQL token scanner over the raw SDL. The AST gives where a directive or a
// definition starts; this finds where it ends, so that the rewrite can cut exactly that text
// and keep every other byte as written.

type tokenKind byte

const (
	tokEOF    tokenKind = iota
	tokPunct            // one of ! $ & ( ) : = @ [ ] { | }
	tokString           // "..." or """..."""
	tokWord             // a name, number or anything else
)

type sdlToken struct {
	kind       tokenKind
	start, end int
}

func (t sdlToken) is(src string, punct byte) bool {
	return t.kind == tokPunct && src[t.start] == punct
}

func (t sdlToken) word(src string) string {
	if t.kind != tokWord {
		return ""
	}
	return src[t.start:t.end]
}

func isPunct(c byte) bool {
	switch c {
	case '!', '$', '&', '(', ')', ':', '=', '@', '[', ']', '{', '|', '}':
		return true
	}
	return false
}

func isIgnoredByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ','
}

// skipIgnored skips whitespace, commas, comments and a byte order mark.
func skipIgnored(src string, pos int) int {
	for pos < len(src) {
		c := src[pos]
		switch {
		case isIgnoredByte(c):
			pos++
		case c == '#':
			for pos < len(src) && src[pos] != '\n' && src[pos] != '\r' {
				pos++
			}
		case c == 0xEF && pos+2 < len(src) && src[pos+1] == 0xBB && src[pos+2] == 0xBF:
			pos += 3
		default:
			return pos
		}
	}
	return pos
}

// nextToken returns the first token at or after pos.
func nextToken(src string, pos int) sdlToken {
	pos = skipIgnored(src, pos)
	if pos >= len(src) {
		return sdlToken{kind: tokEOF, start: len(src), end: len(src)}
	}
	c := src[pos]
	switch {
	case isPunct(c):
		return sdlToken{kind: tokPunct, start: pos, end: pos + 1}
	case c == '"' && pos+2 < len(src) && src[pos+1] == '"' && src[pos+2] == '"':
		i := pos + 3
		for i < len(src) {
			if src[i] == '\\' && i+3 < len(src) && src[i+1:i+4] == `"""` {
				i += 4
				continue
			}
			if src[i] == '"' && i+2 < len(src) && src[i+1] == '"' && src[i+2] == '"' {
				return sdlToken{kind: tokString, start: pos, end: i + 3}
			}
			i++
		}
		return sdlToken{kind: tokString, start: pos, end: len(src)}
	case c == '"':
		i := pos + 1
		for i < len(src) {
			switch src[i] {
			case '\\':
				i += 2
				continue
			case '"':
				return sdlToken{kind: tokString, start: pos, end: i + 1}
			case '\n', '\r':
				return sdlToken{kind: tokString, start: pos, end: i}
			}
			i++
		}
		return sdlToken{kind: tokString, start: pos, end: len(src)}
	}
	i := pos
	for i < len(src) && !isIgnoredByte(src[i]) && !isPunct(src[i]) && src[i] != '"' && src[i] != '#' {
		i++
	}
	return sdlToken{kind: tokWord, start: pos, end: i}
}

// balancedEnd returns the offset just after the bracket matching the one at open.
func balancedEnd(src string, open int) int {
	depth := 0
	pos := open
	for {
		t := nextToken(src, pos)
		if t.kind == tokEOF {
			return t.end
		}
		pos = t.end
		if t.kind != tokPunct {
			continue
		}
		switch src[t.start] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				return t.end
			}
		}
	}
}

// directiveUsageEnd returns the end of a directive whose name ends at nameEnd.
func directiveUsageEnd(src string, nameEnd int) int {
	if t := nextToken(src, nameEnd); t.is(src, '(') {
		return balancedEnd(src, t.start)
	}
	return nameEnd
}

// typeDefinitionEnd returns the end of a scalar or input object definition or extension
// whose name ends at nameEnd: after its directives and its body, if any.
func typeDefinitionEnd(src string, nameEnd int) int {
	pos := nameEnd
	for {
		t := nextToken(src, pos)
		switch {
		case t.is(src, '@'):
			name := nextToken(src, t.end)
			if name.kind != tokWord {
				return pos
			}
			pos = directiveUsageEnd(src, name.end)
		case t.is(src, '{'):
			return balancedEnd(src, t.start)
		default:
			return pos
		}
	}
}

// directiveDefinitionEnd returns the end of "directive @name(args) repeatable on A | B"
// whose name ends at nameEnd.
func directiveDefinitionEnd(src string, nameEnd int) int {
	pos := nameEnd
	t := nextToken(src, pos)
	if t.is(src, '(') {
		pos = balancedEnd(src, t.start)
		t = nextToken(src, pos)
	}
	if t.word(src) == "repeatable" {
		pos = t.end
		t = nextToken(src, pos)
	}
	if t.word(src) != "on" {
		return pos
	}
	pos = t.end
	for {
		t = nextToken(src, pos)
		if t.is(src, '|') {
			pos = t.end
			t = nextToken(src, pos)
		}
		if t.kind != tokWord {
			return pos
		}
		pos = t.end
		if !nextToken(src, pos).is(src, '|') {
			return pos
		}
	}
}
