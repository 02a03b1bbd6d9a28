package subjectauth

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCovers_NATSSubjects(t *testing.T) {
	cases := []struct {
		pattern, subject string
		want             bool
	}{
		{"employeeUpdated.1", "employeeUpdated.1", true},
		{"employeeUpdated.1", "employeeUpdated.2", false},
		{"employeeUpdated.1", "employeeUpdated", false},
		{"employeeUpdated", "employeeUpdated.1", false},
		{"employeeUpdated.*", "employeeUpdated.1", true},
		{"employeeUpdated.*", "employeeUpdated.1.x", false},
		{"employeeUpdated.*", "employeeUpdated", false},
		{"employeeUpdated.>", "employeeUpdated.1", true},
		{"employeeUpdated.>", "employeeUpdated.1.x.y", true},
		{"employeeUpdated.>", "employeeUpdated", false},
		{">", "a", true},
		{">", "a.b.c", true},
		{"*", "a", true},
		{"*", "a.b", false},
		{"*.b", "a.b", true},
		{"*.b", "a.c", false},
		// a subscription to a wildcard subject needs a pattern at least as broad
		{"employeeUpdated.*", "employeeUpdated.*", true},
		{"employeeUpdated.>", "employeeUpdated.*", true},
		{">", "employeeUpdated.*", true},
		{"employeeUpdated.1", "employeeUpdated.*", false},
		{"employeeUpdated.*", "employeeUpdated.>", false},
		{"employeeUpdated.>", "employeeUpdated.>", true},
		{">", ">", true},
		{"*", ">", false},
		{"a.*.c", "a.>.c", false},
		// injected wildcards through arguments
		{"employeeUpdated.*", "employeeUpdated.5.>", false},
		// malformed patterns and subjects cover nothing
		{"", "a", false},
		{"a", "", false},
		{"a..b", "a..b", false},
		{"a.>.b", "a.x.b", false},
		{"a.", "a.", false},
		{".a", ".a", false},
		{"a.>", "a.*.", false},
		{">", "0..0", false},
		// "*" and ">" are wildcards only as whole tokens
		{"a*", "ab", false},
		{"a*", "a*", true},
		{"a>", "a.b", false},
		// case matters
		{"Orders.*", "orders.1", false},
	}
	for _, c := range cases {
		if got := Covers(NATSSubjects, c.pattern, c.subject); got != c.want {
			t.Errorf("Covers(nats, %q, %q) = %v, want %v", c.pattern, c.subject, got, c.want)
		}
	}
}

func TestCovers_Names(t *testing.T) {
	cases := []struct {
		pattern, subject string
		want             bool
	}{
		{"employee-updates", "employee-updates", true},
		{"employee-updates", "employee-update", false},
		{"employee-*", "employee-updates", true},
		{"employee-*", "employee-", true},
		{"employee-*", "employees", false},
		{"*", "anything.at:all", true},
		{"*-updates", "employee-updates", true},
		{"*-updates", "employee-updates-x", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a*a", "aaa", true},
		// dots are ordinary characters in names
		{"orders.*", "orders.eu.1", true},
		// Redis glob subscriptions: each wildcard must fall inside a "*" of the pattern
		{"employee-*", "employee-*", true},
		{"employee-*", "employee-?", true},
		{"employee-*", "employee-[12]", true},
		{"employee-1", "employee-?", false},
		{"employee-1", "employee-[1]", false},
		{"employee-?", "employee-1", false}, // "?" is no wildcard in a pattern
		{"employee-?", "employee-\\?", true},
		{"e*1", "e[a-z]1", true},
		{"*a-z*", "[a-z]", false},
		{"x*", "x[abc", true},
		{"x", "x[abc", false},
		{"employee-\\*", "employee-\\*", false}, // a pattern has no escapes
		{"employee-*", "employee-\\*", true},
		{"", "a", false},
		{"a", "", false},
	}
	for _, c := range cases {
		if got := Covers(Names, c.pattern, c.subject); got != c.want {
			t.Errorf("Covers(names, %q, %q) = %v, want %v", c.pattern, c.subject, got, c.want)
		}
	}
}

func TestValidatePattern(t *testing.T) {
	for _, c := range []struct {
		syntax  Syntax
		pattern string
		ok      bool
	}{
		{NATSSubjects, "a.*.>", true},
		{NATSSubjects, ">", true},
		{NATSSubjects, "a.>.b", false},
		{NATSSubjects, "a..b", false},
		{NATSSubjects, "a b", false},
		{NATSSubjects, "", false},
		{Names, "topic-*", true},
		{Names, "", false},
	} {
		err := ValidatePattern(c.syntax, c.pattern)
		if (err == nil) != c.ok {
			t.Errorf("ValidatePattern(%v, %q) = %v, want ok=%v", c.syntax, c.pattern, err, c.ok)
		}
	}
}

// instancesNATS returns concrete subjects that subject stands for.
func instancesNATS(subject string) []string {
	var outs []string
	for _, fill := range [][2]string{{"x", "x"}, {"w", "y.z"}, {"q", "q.r.s"}} {
		tokens := strings.Split(subject, ".")
		for i, tok := range tokens {
			switch tok {
			case "*":
				tokens[i] = fill[0]
			case ">":
				tokens[i] = fill[1]
			}
		}
		outs = append(outs, strings.Join(tokens, "."))
	}
	return outs
}

// natsReference matches a concrete subject against a pattern with a regular expression.
func natsReference(pattern, subject string) bool {
	if pattern == "" || subject == "" {
		return false
	}
	tokens := strings.Split(pattern, ".")
	var re strings.Builder
	re.WriteString("^")
	for i, tok := range tokens {
		if i > 0 {
			re.WriteString(`\.`)
		}
		switch {
		case tok == "":
			return false
		case tok == "*":
			re.WriteString(`[^.]+`)
		case tok == ">" && i == len(tokens)-1:
			re.WriteString(`[^.]+(\.[^.]+)*`)
		case tok == ">":
			return false
		default:
			re.WriteString(regexp.QuoteMeta(tok))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(subject)
}

func concreteNATS(s string) bool {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
	}
	return true
}

// FuzzCovers checks Covers against reference matchers for concrete subjects and checks
// that a covered wildcard subject has every sampled instance covered too (soundness).
func FuzzCovers(f *testing.F) {
	for _, s := range [][2]string{
		{"a.*", "a.b"}, {"a.>", "a.*"}, {">", ">"}, {"a.*.c", "a.>.c"}, {"*", "a.b"},
		{"topic-*", "topic-[ab]"}, {"a*b", "a?b"}, {"x", "x\\"}, {"**", "[^]]"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, subject string) {
		if len(pattern) > 64 || len(subject) > 64 || !utf8.ValidString(pattern) || !utf8.ValidString(subject) {
			return // the regular expressions of the references need UTF-8
		}
		// NATS
		got := Covers(NATSSubjects, pattern, subject)
		if concreteNATS(subject) && !strings.ContainsAny(subject, " \t") {
			if want := natsReference(pattern, subject); got != want {
				t.Fatalf("Covers(nats, %q, %q) = %v, reference %v", pattern, subject, got, want)
			}
		}
		if got {
			for _, inst := range instancesNATS(subject) {
				if !natsReference(pattern, inst) {
					t.Fatalf("Covers(nats, %q, %q) but instance %q is not matched", pattern, subject, inst)
				}
			}
		}
		// Names
		got = Covers(Names, pattern, subject)
		if !strings.ContainsAny(subject, `*?[\`) {
			re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
			want := pattern != "" && subject != "" && regexp.MustCompile("(?s)"+re).MatchString(subject)
			if got != want {
				t.Fatalf("Covers(names, %q, %q) = %v, reference %v", pattern, subject, got, want)
			}
		}
		if got && !strings.ContainsAny(subject, `[\`) {
			for _, fill := range []string{"", "k", "kk"} {
				inst := strings.NewReplacer("*", fill, "?", "k").Replace(subject)
				if inst != "" && !Covers(Names, pattern, inst) {
					t.Fatalf("Covers(names, %q, %q) but instance %q is not covered", pattern, subject, inst)
				}
			}
		}
	})
}
