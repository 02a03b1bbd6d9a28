package directives

import (
	"fmt"
	"strings"
)

// Error is one problem found in a subgraph SDL. It prints as "FILE:LINE: message", the
// format start-up errors use everywhere.
type Error struct {
	File    string // Source.File, or the subgraph name when the SDL came from no file
	Line    int    // 1-based
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
}

// Errors holds every problem Parse found, in SDL order; it prints one per line so that a user
// can fix a schema in one pass instead of one error per start-up.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
