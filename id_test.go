package parley

import (
	"strings"
	"testing"
	"time"
)

func TestNewIDSortsByTime(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	prev := ""
	for i := 0; i < 1000; i++ {
		// Several IDs per millisecond, and now and then a clock step.
		id := newIDAt(PrefixMessage, base.Add(time.Duration(i/7)*time.Millisecond))
		if !strings.HasPrefix(id, "msg_") || len(id) != 4+26 {
			t.Fatalf("id %q has the wrong shape", id)
		}
		if id <= prev {
			t.Fatalf("id %q does not sort after %q", id, prev)
		}
		prev = id
	}
}

func TestNewIDClockGoesBack(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a := newIDAt(PrefixContact, now)
	b := newIDAt(PrefixContact, now.Add(-time.Hour))
	if b <= a {
		t.Fatalf("after the clock stepped back, %q sorts before %q", b, a)
	}
}
