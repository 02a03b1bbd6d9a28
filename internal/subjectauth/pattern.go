package subjectauth

import (
	"fmt"
	"strings"
)

// Syntax says how a provider's subjects, and the patterns that allow them, are written.
type Syntax int

const (
	// NATSSubjects are dot-separated tokens. In a pattern (and in a subscribed subject) "*"
	// stands for exactly one token and ">", as the last token, for one or more tokens.
	NATSSubjects Syntax = iota
	// Names are Kafka topics and Redis channels. In a pattern "*" stands for any run of
	// characters, also none; every other character is itself. A subscribed Redis channel
	// may be a glob (*, ?, [...], \ escapes): each of its wildcards must then fall inside a
	// "*" of the pattern.
	Names
)

func (s Syntax) String() string {
	if s == Names {
		return "names"
	}
	return "nats"
}

// Covers reports whether pattern allows subject: whether every concrete subject (topic,
// channel) that subject stands for is matched by pattern. A subject without wildcards
// stands for itself. Covers is conservative: when in doubt it says no. An empty pattern or
// subject covers nothing.
func Covers(syntax Syntax, pattern, subject string) bool {
	if pattern == "" || subject == "" {
		return false
	}
	if syntax == Names {
		return globCovers(pattern, subject)
	}
	return natsCovers(pattern, subject)
}

// natsCovers walks both token lists. A literal pattern token matches only the same literal
// token; "*" matches one token, also a subscribed "*"; ">" matches the rest, also a
// subscribed ">". A subscribed wildcard is never matched by a literal, and a subscribed
// ">" (one or more tokens) never by "*" (exactly one).
func natsCovers(pattern, subject string) bool {
	for {
		pt, prest, pmore := strings.Cut(pattern, ".")
		st, srest, smore := strings.Cut(subject, ".")
		if pt == "" || st == "" {
			return false // an empty token makes a subject invalid
		}
		switch {
		case pt == ">":
			// ">" anywhere but last is not a wildcard NATS accepts; the rest of the
			// subject must still be well-formed
			return !pmore && (!smore || wellFormed(srest))
		case st == ">":
			return false
		case pt == "*":
		case pt != st:
			return false
		}
		if pmore != smore {
			return false
		}
		if !pmore {
			return true
		}
		pattern, subject = prest, srest
	}
}

// wellFormed reports whether a subject has no empty token.
func wellFormed(subject string) bool {
	return subject != "" && subject[0] != '.' && subject[len(subject)-1] != '.' && !strings.Contains(subject, "..")
}

// unit is one element of a subscribed name: a literal byte, or a wildcard (*, ?, [...])
// that stands for something the pattern can only cover with its own "*".
type unit struct {
	b        byte
	wildcard bool
}

// nameUnits splits a subscribed name into units, reading Redis glob syntax: "\x" is the
// literal x, "*" and "?" are wildcards, and "[...]" up to the closing "]" is one wildcard
// (to the end of the name when unclosed, which is at least as broad).
func nameUnits(s string) []unit {
	out := make([]unit, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
			}
			out = append(out, unit{b: s[i]})
		case '*', '?':
			out = append(out, unit{wildcard: true})
		case '[':
			j := i + 1
			if j < len(s) && s[j] == '^' {
				j++
			}
			if j < len(s) && s[j] == ']' {
				j++ // a leading "]" is a member of the set
			}
			for j < len(s) && s[j] != ']' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			i = min(j, len(s)-1)
			out = append(out, unit{wildcard: true})
		default:
			out = append(out, unit{b: c})
		}
	}
	return out
}

// globCovers matches pattern ("*" = any run) against the units of subject. A pattern "*"
// may absorb wildcard units; a literal pattern byte only the same literal unit. That is
// sound: any name the subject stands for replaces each wildcard unit with some text, which
// the "*" that absorbed the unit absorbs instead.
func globCovers(pattern, subject string) bool {
	units := nameUnits(subject)
	pi, ui := 0, 0
	starP, starU := -1, 0
	for ui < len(units) {
		switch {
		case pi < len(pattern) && pattern[pi] == '*':
			starP, starU = pi, ui
			pi++
		case pi < len(pattern) && !units[ui].wildcard && units[ui].b == pattern[pi]:
			pi++
			ui++
		case starP >= 0:
			// let the last "*" absorb one more unit and retry from there
			starU++
			pi, ui = starP+1, starU
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

// ValidatePattern checks a pattern written in configuration (anonymous subjects): a NATS
// pattern must have no empty token, no white space and ">" only as its last token; a name
// pattern must not be empty. Patterns from tokens are not validated: one that is malformed
// simply covers nothing it should not.
func ValidatePattern(syntax Syntax, p string) error {
	if p == "" {
		return fmt.Errorf("empty pattern")
	}
	if syntax == Names {
		return nil
	}
	if strings.ContainsAny(p, " \t\r\n") {
		return fmt.Errorf("pattern %q contains white space", p)
	}
	tokens := strings.Split(p, ".")
	for i, t := range tokens {
		switch {
		case t == "":
			return fmt.Errorf("pattern %q has an empty token", p)
		case t == ">" && i != len(tokens)-1:
			return fmt.Errorf("pattern %q: \">\" must be the last token", p)
		}
	}
	return nil
}
