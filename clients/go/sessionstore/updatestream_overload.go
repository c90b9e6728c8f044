package sessionstore

import (
	"math/rand/v2"
	"time"

	sessionstorev1 "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
)

// The pause before a resend grows from overloadMinBackoff to overloadMaxBackoff while the sidecar keeps refusing.
const (
	overloadMinBackoff = 200 * time.Millisecond
	overloadMaxBackoff = 5 * time.Second
)

// overloadHold is the sessions of the open stream with an update the sidecar
// refused as OVERLOADED.
//
// The sidecar refuses a session's later updates on that stream too, until it
// gets one of the session's updates with a seq no greater than the refused
// one. So a held session's unsent updates (those refused, and writes made
// since, which would only be refused as well) wait, and go again together, in
// write order, once both:
//
//   - the resend delay has passed: the longer of the sidecar's RetryInfo delay
//     and a backoff that doubles while the sidecar keeps refusing and starts
//     over after an update is acknowledged; one delay covers every session
//     held before it passes;
//   - every update of the session already sent on the stream has its ack.
//     They will all be refused; resending before the last of those acks came
//     would let a write made after the resend be applied ahead of that
//     update, whose own resend would then be acknowledged as a duplicate
//     without being applied.
//
// Its methods are called with UpdateStream.mu held.
type overloadHold struct {
	due       map[string]bool // held sessions, each with whether its resend delay has passed
	scheduled bool            // expire is due to be called
	attempt   int
}

func (h *overloadHold) holds(conversationID string) bool {
	_, held := h.due[conversationID]
	return held
}

// hold holds a session after an OVERLOADED ack that asked for retryDelay. It
// returns the delay after which to call expire, and false when a call is already due.
func (h *overloadHold) hold(conversationID string, retryDelay time.Duration) (time.Duration, bool) {
	if h.due == nil {
		h.due = map[string]bool{}
	}
	if !h.holds(conversationID) {
		h.due[conversationID] = false
	}
	if h.scheduled {
		return 0, false
	}
	h.scheduled = true
	backoff := min(overloadMaxBackoff, overloadMinBackoff<<min(h.attempt, 16))
	h.attempt++
	return max(retryDelay, time.Duration(float64(backoff)*(0.8+0.4*rand.Float64()))), true
}

// expire says the delay has passed: every session held so far may be resent.
func (h *overloadHold) expire() {
	h.scheduled = false
	for id := range h.due {
		h.due[id] = true
	}
}

// releaseReady stops holding, and returns, the sessions due for their resend with nothing in flight.
func (h *overloadHold) releaseReady(inFlight func(conversationID string) bool) map[string]bool {
	var ready map[string]bool
	for id, due := range h.due {
		if due && !inFlight(id) {
			if ready == nil {
				ready = map[string]bool{}
			}
			ready[id] = true
			delete(h.due, id)
		}
	}
	return ready
}

// acknowledged says an update was acknowledged: the next hold waits the shortest backoff again.
func (h *overloadHold) acknowledged() { h.attempt = 0 }

// clear forgets every session: a new stream replays every unacknowledged update, so nothing is held on it.
func (h *overloadHold) clear() {
	clear(h.due)
	h.scheduled = false
}

// holdLocked holds the session of an OVERLOADED ack, and schedules its resend unless one is due.
func (s *UpdateStream) holdLocked(refused *UpdateRefusedError) {
	delay, schedule := s.overload.hold(refused.ConversationID, RetryInfo(refused).GetRetryDelay().AsDuration())
	if !schedule {
		return
	}
	sendq := s.sendq
	s.resendTimer = time.AfterFunc(delay, func() { s.resendExpired(sendq) })
}

// resendExpired is the resend timer of the stream that reads sendq.
func (s *UpdateStream) resendExpired(sendq chan *sessionstorev1.SessionUpdate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// That stream has ended or is closing: the next one, if any, replays every unacknowledged update.
	if sendq == nil || s.sendq != sendq {
		return
	}
	s.overload.expire()
	s.resendReadyLocked()
}

// resendReadyLocked sends again, in write order, the updates of the held sessions that the hold releases.
func (s *UpdateStream) resendReadyLocked() {
	if s.sendq == nil {
		return
	}
	ready := s.overload.releaseReady(func(id string) bool { return len(s.inflight[id]) > 0 })
	if len(ready) == 0 {
		return
	}
	for e := s.pending.Front(); e != nil; e = e.Next() {
		if p := e.Value.(*Pending); ready[p.update.GetConversationId()] {
			s.sendLocked(p)
		}
	}
}

// forgetHoldsLocked drops the held sessions and their resend timer, for a new stream or Close.
func (s *UpdateStream) forgetHoldsLocked() {
	s.overload.clear()
	if s.resendTimer != nil {
		s.resendTimer.Stop()
		s.resendTimer = nil
	}
}
