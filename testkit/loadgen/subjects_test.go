package loadgen

import "testing"

func TestSubjects_EventsRoundRobinMatchSubscribers(t *testing.T) {
	const k, published = 4, 10
	got := map[int]int64{}
	for seq := int64(1); seq <= published; seq++ {
		got[SubjectOfSeq(seq, k)]++
	}
	for subject := 1; subject <= k; subject++ {
		if n := EventsOn(subject, k, published); n != got[subject] {
			t.Errorf("subject %d: EventsOn %d, published %d", subject, n, got[subject])
		}
	}
	if SubjectOf(5, k) != 2 || SubjectOf(5, 1) != 1 || EventsOn(1, 1, published) != published {
		t.Error("one shared subject")
	}
}

func TestTracker_ExpectsEventsOfOwnSubject(t *testing.T) {
	tr := NewTracker(6)
	tr.SetSubjects(3, 1) // this process's subscribers are global 1, 2: subjects 2, 3
	a, b := tr.NewSub(), tr.NewSub()
	a.Opened()
	b.Opened()
	tr.Mark()
	a.Deliver(2, 1)
	a.Deliver(5, 1)
	b.Deliver(3, 1)
	r := tr.Result(6)
	if a.subject != 2 || b.subject != 3 || r.Expected != 4 || r.Complete != 1 {
		t.Errorf("subjects %d %d, expected %d complete %d; want 2 3, 4 1", a.subject, b.subject, r.Expected, r.Complete)
	}
}
