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
//   - the session's own resend time has come: drawn when it is held, uniformly
//     from [delay, 2·delay) after the refusal, where the delay is the longer
//     of the sidecar's RetryInfo delay and a backoff that doubles while the
//     sidecar keeps refusing and starts over after an update is acknowledged.
//     One delay holds for every session refused before it passes; the draw is
//     per session because a group the sidecar sheds refuses hundreds of
//     sessions at once, and resending them all at one instant would be a
//     burst that waits past the queue timeout and is shed again;
//   - every update of the session already sent on the stream has its ack.
//     They will all be refused; resending before the last of those acks came
//     would let a write made after the resend be applied ahead of that
//     update, whose own resend would then be acknowledged as a duplicate
//     without being applied.
//
// The stream keeps one timer for it: hold and expire say when it should next fire.
// Its methods are called with UpdateStream.mu held.
type overloadHold struct {
	dueAt      map[string]time.Time // held sessions, each with its resend time
	roundDelay time.Duration        // the delay of the sessions held before roundEnds
	roundEnds  time.Time            // after it, the next refusal draws the backoff again
	wakeAt     time.Time            // when the stream's timer fires; zero when none is set
	attempt    int
	now        func() time.Time // time.Now unless a test sets it
	draw       func() float64   // rand.Float64 unless a test sets it
}

func (h *overloadHold) holds(conversationID string) bool {
	_, held := h.dueAt[conversationID]
	return held
}

func (h *overloadHold) clock() time.Time {
	if h.now != nil {
		return h.now()
	}
	return time.Now()
}

// hold holds a session after an OVERLOADED ack that asked for retryDelay; a
// session already held keeps its time. It returns the delay after which to
// call expire, and true when the stream's timer must be (re)set to it.
func (h *overloadHold) hold(conversationID string, retryDelay time.Duration) (time.Duration, bool) {
	if h.dueAt == nil {
		h.dueAt = map[string]time.Time{}
	}
	if h.holds(conversationID) {
		return 0, false
	}
	now := h.clock()
	if !now.Before(h.roundEnds) {
		backoff := min(overloadMaxBackoff, overloadMinBackoff<<min(h.attempt, 16))
		h.attempt++
		h.roundDelay = time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
		h.roundEnds = now.Add(h.roundDelay)
	}
	draw := rand.Float64
	if h.draw != nil {
		draw = h.draw
	}
	at := now.Add(time.Duration(float64(max(retryDelay, h.roundDelay)) * (1 + draw())))
	h.dueAt[conversationID] = at
	if !h.wakeAt.IsZero() && !at.Before(h.wakeAt) {
		return 0, false
	}
	h.wakeAt = at
	return at.Sub(now), true
}

// expire says the stream's timer fired. It returns the delay to the next
// resend time still to come, and false when none is left.
func (h *overloadHold) expire() (time.Duration, bool) {
	now := h.clock()
	h.wakeAt = time.Time{}
	for _, at := range h.dueAt {
		if at.After(now) && (h.wakeAt.IsZero() || at.Before(h.wakeAt)) {
			h.wakeAt = at
		}
	}
	if h.wakeAt.IsZero() {
		return 0, false
	}
	return h.wakeAt.Sub(now), true
}

// releaseReady stops holding, and returns, the sessions whose resend time has come with nothing in flight.
func (h *overloadHold) releaseReady(inFlight func(conversationID string) bool) map[string]bool {
	var ready map[string]bool
	now := h.clock()
	for id, at := range h.dueAt {
		if !at.After(now) && !inFlight(id) {
			if ready == nil {
				ready = map[string]bool{}
			}
			ready[id] = true
			delete(h.dueAt, id)
		}
	}
	return ready
}

// acknowledged says an update was acknowledged: the next hold waits the shortest backoff again.
func (h *overloadHold) acknowledged() { h.attempt = 0 }

// clear forgets every session: a new stream replays every unacknowledged update, so nothing is held on it.
func (h *overloadHold) clear() {
	clear(h.dueAt)
	h.roundEnds = time.Time{}
	h.wakeAt = time.Time{}
}

// holdLocked holds the session of an OVERLOADED ack, and moves the resend timer to its time if that comes first.
func (s *UpdateStream) holdLocked(refused *UpdateRefusedError) {
	if delay, schedule := s.overload.hold(refused.ConversationID, RetryInfo(refused).GetRetryDelay().AsDuration()); schedule {
		s.setResendTimerLocked(delay)
	}
}

// setResendTimerLocked (re)sets the stream's one resend timer, for the held session due first.
func (s *UpdateStream) setResendTimerLocked(delay time.Duration) {
	if s.resendTimer != nil {
		s.resendTimer.Stop()
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
	next, again := s.overload.expire()
	s.resendReadyLocked()
	if again {
		s.setResendTimerLocked(next)
	}
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
