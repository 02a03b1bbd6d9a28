package oplimit

type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokPunct
	tokDots
	tokName
	tokValue // number or string
)

// next returns the next token's offset, kind and, for names, text; for punctuators the
// byte is in punct. Bytes that start no GraphQL token are skipped one at a time as
// punctuators of their own, so that every call advances and the parser reports them.
func (s *scanner) next() (int, tokenKind, string) {
	src := s.src
	for s.pos < len(src) {
		c := src[s.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			s.pos++
			continue
		case c == '#':
			for s.pos < len(src) && src[s.pos] != '\n' && src[s.pos] != '\r' {
				s.pos++
			}
			continue
		case c == 0xEF && s.pos+2 < len(src) && src[s.pos+1] == 0xBB && src[s.pos+2] == 0xBF: // BOM
			s.pos += 3
			continue
		}
		start := s.pos
		switch {
		case isNameStart(c):
			s.pos++
			for s.pos < len(src) && isNameContinue(src[s.pos]) {
				s.pos++
			}
			return start, tokName, src[start:s.pos]
		case c == '-' || (c >= '0' && c <= '9'):
			s.pos++
			for s.pos < len(src) && isNumberContinue(src[s.pos]) {
				s.pos++
			}
			return start, tokValue, ""
		case c == '"':
			s.str()
			return start, tokValue, ""
		case c == '.' && s.pos+2 < len(src) && src[s.pos+1] == '.' && src[s.pos+2] == '.':
			s.pos += 3
			return start, tokDots, ""
		default:
			s.pos++
			return start, tokPunct, src[start:s.pos]
		}
	}
	return s.pos, tokEOF, ""
}

// str skips a string or block string; an unterminated one runs to the end.
func (s *scanner) str() {
	src := s.src
	if s.pos+2 < len(src) && src[s.pos+1] == '"' && src[s.pos+2] == '"' {
		s.pos += 3
		for s.pos < len(src) {
			switch {
			case src[s.pos] == '\\' && s.pos+3 < len(src) && src[s.pos+1] == '"' && src[s.pos+2] == '"' && src[s.pos+3] == '"':
				s.pos += 4
			case src[s.pos] == '"' && s.pos+2 < len(src) && src[s.pos+1] == '"' && src[s.pos+2] == '"':
				s.pos += 3
				return
			default:
				s.pos++
			}
		}
		return
	}
	s.pos++
	for s.pos < len(src) {
		switch src[s.pos] {
		case '\\':
			s.pos += 2
		case '"':
			s.pos++
			return
		case '\n', '\r':
			return // strings end at the line; the parser reports it
		default:
			s.pos++
		}
	}
	s.pos = len(src)
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameContinue(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }

// isNumberContinue accepts the bytes of an int or float literal (digits, '.', exponent,
// sign); a malformed number is still one token, which the parser rejects.
func isNumberContinue(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}
