package loadgen

import (
	"strconv"
	"strings"
)

// SubjectPlaceholder marks where a query or a subject name takes the number of the
// subscriber's subject, 1..K, in a run spread over K subjects (Config.Subjects).
const SubjectPlaceholder = "{{subject}}"

// SubjectOf is the subject (1..k) of the subscriber with global index i (0-based): the
// subscribers are dealt round robin, so with k equal to their number each has its own.
func SubjectOf(i, k int) int {
	if k <= 1 {
		return 1
	}
	return i%k + 1
}

// SubjectOfSeq is the subject (1..k) event seq (1-based) is published on: events go
// round robin over the subjects, so every subject gets one before any gets a second.
func SubjectOfSeq(seq int64, k int) int {
	if k <= 1 {
		return 1
	}
	return int((seq-1)%int64(k)) + 1
}

// EventsOn is how many of the events 1..published went to subject (1..k).
func EventsOn(subject, k int, published int64) int64 {
	if k <= 1 {
		return published
	}
	n := published / int64(k)
	if published%int64(k) >= int64(subject) {
		n++
	}
	return n
}

// withSubject fills SubjectPlaceholder in s.
func withSubject(s string, subject int) string {
	if !strings.Contains(s, SubjectPlaceholder) {
		return s
	}
	return strings.ReplaceAll(s, SubjectPlaceholder, strconv.Itoa(subject))
}
