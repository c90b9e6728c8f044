package sessionstore

import (
	"slices"
	"testing"
	"time"
)

// overloadHold's rules, without a sidecar: when a held session's updates may
// go again. The clock and the spread draws are the test's own, so that "after
// its resend time" is exact rather than a guess about a loaded machine.

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time          { return c.t }
func (c *testClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func heldWith(clock *testClock, draws ...float64) *overloadHold {
	return &overloadHold{now: clock.now, draw: func() float64 {
		if len(draws) == 0 {
			return 0
		}
		d := draws[0]
		draws = draws[1:]
		return d
	}}
}

func readyIDs(h *overloadHold, inFlight ...string) []string {
	ready := h.releaseReady(func(id string) bool { return slices.Contains(inFlight, id) })
	var ids []string
	for id := range ready {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func TestEverySessionHeldAtOnceGetsItsOwnResendTimeWithinDelayToTwiceDelay(t *testing.T) {
	clock := &testClock{t: time.Unix(1000, 0)}
	h := heldWith(clock, 0.5, 0, 0.9)
	// RetryInfo's 1 s is longer than any first backoff (200 ms ± 20 %): the delay is 1 s.
	if d, schedule := h.hold("a", time.Second); !schedule || d != 1500*time.Millisecond {
		t.Fatalf("a: timer %v %v, want 1.5s", d, schedule)
	}
	if d, schedule := h.hold("b", time.Second); !schedule || d != time.Second {
		t.Fatalf("b, due before a: timer %v %v, want it moved to 1s", d, schedule)
	}
	if _, schedule := h.hold("c", time.Second); schedule {
		t.Fatal("c, due after the timer set: the timer moved")
	}
	clock.advance(999 * time.Millisecond)
	if ids := readyIDs(h); ids != nil {
		t.Fatalf("released %v before any resend time", ids)
	}
	clock.advance(time.Millisecond)
	if d, again := h.expire(); !again || d != 500*time.Millisecond {
		t.Fatalf("next timer %v %v, want a's, 500ms on", d, again)
	}
	if ids := readyIDs(h); !slices.Equal(ids, []string{"b"}) {
		t.Fatalf("released %v at b's time", ids)
	}
	clock.advance(500 * time.Millisecond)
	h.expire()
	if ids := readyIDs(h); !slices.Equal(ids, []string{"a"}) {
		t.Fatalf("released %v at a's time", ids)
	}
	clock.advance(400 * time.Millisecond)
	if _, again := h.expire(); again {
		t.Fatal("a timer is asked for with nothing left to wait for")
	}
	if ids := readyIDs(h); !slices.Equal(ids, []string{"c"}) {
		t.Fatalf("released %v at c's time", ids)
	}
}

func TestAHeldSessionGoesAgainOnlyOnceNothingOfItIsInFlight(t *testing.T) {
	clock := &testClock{t: time.Unix(1000, 0)}
	h := heldWith(clock, 0, 0.5)
	h.hold("a", 200*time.Millisecond)
	if _, schedule := h.hold("a", 200*time.Millisecond); schedule {
		t.Fatal("a second refused update of a held session moved its time")
	}
	h.hold("b", 200*time.Millisecond)
	clock.advance(400 * time.Millisecond) // past b's time: 1.5 × at most 240ms (the first backoff, 200ms ± 20 %)
	h.expire()
	// a's updates still in flight will be refused too: resending before their acks could reorder them.
	if ids := readyIDs(h, "a"); !slices.Equal(ids, []string{"b"}) || !h.holds("a") || h.holds("b") {
		t.Fatalf("released %v", ids)
	}
	if ids := readyIDs(h); !slices.Equal(ids, []string{"a"}) {
		t.Fatalf("released %v once nothing of a is in flight", ids)
	}
	if _, schedule := h.hold("c", 200*time.Millisecond); !schedule {
		t.Fatal("a session held after the others were released sets no timer of its own")
	}
}

func TestTheDelayIsTheLongerOfRetryInfoAndABackoffDoublingToFiveSecondsUntilAnAck(t *testing.T) {
	clock := &testClock{t: time.Unix(1000, 0)}
	h := heldWith(clock) // draws of 0: each session waits exactly the delay
	next := func(retryDelay time.Duration) time.Duration {
		delay, _ := h.hold("a", retryDelay)
		clock.advance(delay)
		h.expire()
		if ids := readyIDs(h); !slices.Equal(ids, []string{"a"}) {
			t.Fatalf("released %v after the delay", ids)
		}
		return delay
	}
	within := func(d, nominal time.Duration) bool { return d >= nominal*8/10 && d <= nominal*12/10 }
	for _, nominal := range []time.Duration{200, 400, 800, 1600, 3200, 5000, 5000} {
		if d := next(0); !within(d, nominal*time.Millisecond) {
			t.Fatalf("delay %v, want %v ± 20 %%", d, nominal*time.Millisecond)
		}
	}
	if d := next(9 * time.Second); d != 9*time.Second {
		t.Fatalf("delay %v, want RetryInfo's 9s", d)
	}
	h.acknowledged()
	if d := next(0); !within(d, 200*time.Millisecond) {
		t.Fatalf("delay %v after an ack, want 200ms ± 20 %%", d)
	}
}
