package sessionstore

import (
	"slices"
	"testing"
	"time"
)

// overloadHold's rules, without a sidecar: when a held session's updates may go again.

func readyIDs(h *overloadHold, inFlight ...string) []string {
	ready := h.releaseReady(func(id string) bool { return slices.Contains(inFlight, id) })
	var ids []string
	for id := range ready {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func TestAHeldSessionGoesAgainOnceItsDelayPassedAndNothingOfItIsInFlight(t *testing.T) {
	var h overloadHold
	if _, schedule := h.hold("a", 200*time.Millisecond); !schedule {
		t.Fatal("the first hold schedules no resend")
	}
	if _, schedule := h.hold("b", 200*time.Millisecond); schedule {
		t.Fatal("a second resend is scheduled while one is due") // the scheduled delay covers b too
	}
	if ids := readyIDs(&h, "a"); ids != nil {
		t.Fatalf("released %v before the delay passed", ids)
	}
	h.expire()
	// a's updates still in flight will be refused too: resending before their acks could reorder them.
	if ids := readyIDs(&h, "a"); !slices.Equal(ids, []string{"b"}) || !h.holds("a") || h.holds("b") {
		t.Fatalf("released %v", ids)
	}
	if ids := readyIDs(&h); !slices.Equal(ids, []string{"a"}) {
		t.Fatalf("released %v once nothing of a is in flight", ids)
	}
	if _, schedule := h.hold("c", 200*time.Millisecond); !schedule {
		t.Fatal("a session held after the delay passed waits for no delay of its own")
	}
}

func TestTheDelayIsTheLongerOfRetryInfoAndABackoffDoublingToFiveSecondsUntilAnAck(t *testing.T) {
	var h overloadHold
	next := func(retryDelay time.Duration) time.Duration {
		delay, _ := h.hold("a", retryDelay)
		h.expire()
		h.releaseReady(func(string) bool { return false })
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
