package sessionstore

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sessionstorev1 "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
)

// The stream goroutine: opening streams, replaying, reading acks.

// Stream endings that a new stream can cure; any other fails the unacknowledged
// updates rather than re-sending them forever.
var transient = map[codes.Code]bool{
	codes.OK: true, codes.Unavailable: true, codes.Canceled: true, codes.Unknown: true,
	codes.Internal: true, codes.DeadlineExceeded: true, codes.Aborted: true,
}

func (s *UpdateStream) run() {
	defer close(s.done)
	attempt, opened := 0, 0
	var batching *Batching // nil once StreamUpdates is the RPC in use
	if !s.opts.Batching.Disabled {
		batching = &s.opts.Batching
	}
	for {
		s.mu.Lock()
		_ = s.waitLocked(s.ctx, func() bool { return s.closing || s.pending.Len() > 0 })
		closing := s.closing
		s.mu.Unlock()
		if closing {
			return
		}
		if s.ctx.Err() != nil {
			s.ended()
			return
		}
		st := s.serve(batching, opened > 0, &attempt)
		opened++
		if st.Code() == codes.Unimplemented && batching != nil {
			// A sidecar older than StreamUpdateBatches: StreamUpdates carries the same
			// updates, one to a message, and the next turn of the loop re-sends them there.
			batching = nil
			continue
		}
		s.mu.Lock()
		var failed []*Pending
		if !transient[st.Code()] {
			failed = s.takePendingLocked()
		}
		unacked, closing := s.pending.Len(), s.closing
		s.mu.Unlock()
		fail(failed, &StreamFailedError{st})
		if s.opts.OnDisconnect != nil {
			s.opts.OnDisconnect(st, unacked)
		}
		if closing {
			return
		}
		if s.ctx.Err() != nil {
			s.ended()
			return
		}
		if unacked > 0 {
			delay := min(s.opts.MaxBackoff, s.opts.MinBackoff<<min(attempt, 16))
			attempt++
			select {
			case <-time.After(time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))):
			case <-s.ctx.Done():
			}
		}
	}
}

// serve runs one stream: re-sends what is pending, then reads acks until it ends.
func (s *UpdateStream) serve(batching *Batching, reopened bool, attempt *int) *status.Status {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	call, err := openCall(ctx, s.client, batching)
	if err != nil {
		return status.Convert(err)
	}
	s.mu.Lock()
	// Never more than MaxUnacked updates are pending, and each is queued at most
	// once at a time (a resend follows its OVERLOADED ack), so sends under the
	// lock never block.
	sendq := make(chan *sessionstorev1.SessionUpdate, s.opts.MaxUnacked)
	s.sendq, s.inflight = sendq, map[string][]*Pending{}
	s.forgetHoldsLocked() // the replay below carries the held updates too
	for e := s.pending.Front(); e != nil; e = e.Next() {
		s.sendLocked(e.Value.(*Pending))
	}
	if reopened {
		s.stats.Reconnects++
		s.stats.Replayed += s.pending.Len()
	}
	if s.closing { // Close ran while the stream was opening: nothing more will be written
		close(sendq)
		s.sendq = nil
	}
	s.mu.Unlock()

	go call.send(sendq)
	for {
		acks, err := call.recv()
		if err != nil {
			s.mu.Lock()
			if s.sendq == sendq {
				close(sendq)
				s.sendq = nil
			}
			s.mu.Unlock()
			if errors.Is(err, io.EOF) {
				return status.New(codes.OK, "")
			}
			return status.Convert(err)
		}
		*attempt = 0 // the sidecar answers: the next break starts the backoff afresh
		s.onAcks(acks)
	}
}

func (s *UpdateStream) sendLocked(p *Pending) {
	id := p.update.GetConversationId()
	s.inflight[id] = append(s.inflight[id], p)
	s.sendq <- p.update
}

// onAcks settles the updates of one response's acks, taking the lock once for all of them.
func (s *UpdateStream) onAcks(acks []*sessionstorev1.UpdateAck) {
	type stop struct {
		info    StopInfo
		dropped []*Pending
	}
	var settled []*Pending
	var stops []stop
	s.mu.Lock()
	for _, ack := range acks {
		id := ack.GetConversationId()
		sent := s.inflight[id]
		if len(sent) == 0 || sent[0].update.GetSeq() != ack.GetSeq() {
			continue // only a sidecar breaking the per-session ack order gets here
		}
		p := sent[0]
		s.inflight[id] = sent[1:]
		if p.dropped {
			continue
		}
		if ack.GetError() == nil {
			s.overload.acknowledged()
			s.pending.Remove(p.elem)
			settled = append(settled, p)
			s.stats.Acked++
			if !ack.GetApplied() {
				s.stats.Duplicates++
			}
			p.ack = ack
			continue
		}
		refused := &UpdateRefusedError{ConversationID: id, Seq: ack.GetSeq(), Status: status.FromProto(ack.GetError())}
		if Reason(refused) == ReasonOverloaded {
			s.stats.Overloaded++
			s.holdLocked(refused) // the update stays pending, for its resend
			continue
		}
		s.pending.Remove(p.elem)
		settled = append(settled, p)
		s.stats.Refused++
		p.err = refused
		// A write fenced for an epoch this bridge has since left by resuming the call
		// again (and calling Track) fails alone: the session goes on.
		t := s.sessions[id]
		superseded := t != nil && p.update.GetOwnerEpoch() < t.ownerEpoch
		if reason := Reason(refused); (reason == ReasonSessionFenced || reason == ReasonSessionEnded) && !superseded {
			dropped := s.stopLocked(id, refused)
			stops = append(stops, stop{StopInfo{ConversationID: id, Reason: reason, Err: refused, Dropped: len(dropped)}, dropped})
		}
	}
	s.resendReadyLocked()
	s.broadcastLocked()
	s.mu.Unlock()
	// Callbacks and waiters run user code: never under the lock. The callbacks
	// first, so that whoever waits on a refused update sees their effects.
	for _, st := range stops {
		callback := s.opts.OnFenced
		if st.info.Reason == ReasonSessionEnded {
			callback = s.opts.OnEnded
		}
		if callback != nil {
			callback(st.info)
		}
	}
	for _, p := range settled {
		close(p.done)
	}
	for _, st := range stops {
		fail(st.dropped, &SessionStoppedError{ConversationID: st.info.ConversationID, Reason: st.info.Reason, Refusal: st.info.Err})
	}
}

func (s *UpdateStream) stopLocked(id string, refused *UpdateRefusedError) []*Pending {
	if t := s.sessions[id]; t != nil {
		t.stopped = refused
	}
	var dropped []*Pending
	for e := s.pending.Front(); e != nil; {
		next := e.Next()
		if p := e.Value.(*Pending); p.update.GetConversationId() == id {
			p.dropped = true // its ack, if one comes on this stream, is ignored
			s.pending.Remove(e)
			dropped = append(dropped, p)
		}
		e = next
	}
	return dropped
}

func (s *UpdateStream) takePendingLocked() []*Pending {
	var taken []*Pending
	for e := s.pending.Front(); e != nil; e = e.Next() {
		taken = append(taken, e.Value.(*Pending))
	}
	s.pending.Init()
	s.broadcastLocked()
	return taken
}

func fail(ps []*Pending, err error) {
	for _, p := range ps {
		p.err = err
		close(p.done)
	}
}
