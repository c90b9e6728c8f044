package sessionstore

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	sessionstorev1 "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
)

// UpdateStream carries a bridge's writes for all its calls on one update
// stream, with the bookkeeping that makes the stream safe to lose:
//
//   - batching: the writes of the next few milliseconds go to the sidecar
//     together in one StreamUpdateBatches message, and their acks come back
//     together; each update still has its own seq, ack and error.
//     Batching.Disabled (or a sidecar without StreamUpdateBatches, which
//     answers Unimplemented) uses StreamUpdates, a message per update;
//   - seq: each write gets its session's next seq, counting from the last_seq
//     of the Session given to Track, so the sidecar applies it at most once;
//   - replay: updates are kept until acknowledged; when the stream breaks
//     (sidecar restart, network) it is reopened with backoff and every
//     unacknowledged update is re-sent in the original order. Those the
//     sidecar already had are acknowledged as duplicates (Applied false);
//   - fencing: when the sidecar refuses a write as SESSION_FENCED (another
//     bridge resumed the call) or SESSION_ENDED, OnFenced / OnEnded is called,
//     the session's other unacknowledged updates are dropped, and later writes
//     for it fail with *SessionStoppedError without reaching the sidecar;
//   - backpressure: at most MaxUnacked updates wait for acks; Write waits
//     beyond that;
//   - overload: an update the sidecar refused as OVERLOADED (it could not
//     commit it in time) was not applied, nor will the session's later ones
//     on that stream be until it comes back. Its Pending stays unresolved;
//     the session's unsent updates are held and, once those already sent
//     have their acks, sent again in order after the delay the sidecar asked
//     for (longer while it keeps refusing). Stats.Overloaded counts those acks.
//
// Any other error ack is final: the update is not re-sent, since a later
// update of the session may already have moved last_seq past it. All methods
// are safe for concurrent use.
type UpdateStream struct {
	client sessionstorev1.SessionStoreServiceClient
	opts   UpdateStreamOptions
	ctx    context.Context // ends every stream when Close gives up waiting
	cancel context.CancelFunc
	done   chan struct{} // closed when the stream goroutine returns

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change that a waiter may be waiting for
	sessions map[string]*tracked
	pending  *list.List // of *Pending, in write order: the replay order
	inflight map[string][]*Pending
	sendq    chan *sessionstorev1.SessionUpdate // the open stream's; nil while none is open
	closing  bool
	stats    Stats
	// Per stream: the sessions held after an OVERLOADED ack, and the timer of their resend.
	overload    overloadHold
	resendTimer *time.Timer
}

// UpdateStreamOptions tune an UpdateStream; the zero value is usable.
type UpdateStreamOptions struct {
	// MaxUnacked bounds the updates waiting for acks (memory while the sidecar is away). Default 5000.
	MaxUnacked int
	// Batching coalesces writes into StreamUpdateBatches messages: by default
	// for up to 2 ms, at most 500 updates or 1 MiB a message (see Batching).
	Batching Batching
	// MinBackoff and MaxBackoff bound the delay between reconnects. Default 50 ms and 2 s.
	MinBackoff, MaxBackoff time.Duration
	// OnFenced and OnEnded are called when a session stops taking writes.
	OnFenced, OnEnded func(StopInfo)
	// OnDisconnect is called when a stream ends, with its status and the updates left to re-send.
	OnDisconnect func(st *status.Status, unacked int)
}

// Pending is one written update waiting for its ack.
type Pending struct {
	update  *sessionstorev1.SessionUpdate
	elem    *list.Element
	done    chan struct{}
	ack     *sessionstorev1.UpdateAck
	err     error
	dropped bool
}

// Wait returns the update's ack once it is durable, or why it was not applied:
// *UpdateRefusedError, *SessionStoppedError or *StreamFailedError. An
// OVERLOADED refusal is none of these: the update is sent again, and Wait
// returns once it is durable.
func (p *Pending) Wait(ctx context.Context) (*sessionstorev1.UpdateAck, error) {
	select {
	case <-p.done:
		return p.ack, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type tracked struct {
	ownerEpoch, lastSeq int64
	stopped             string
}

// NewUpdateStream starts the stream's goroutine; call Close to end it.
func NewUpdateStream(client sessionstorev1.SessionStoreServiceClient, opts UpdateStreamOptions) *UpdateStream {
	if opts.MaxUnacked <= 0 {
		opts.MaxUnacked = 5000
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 50 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(2*time.Second, opts.MinBackoff)
	}
	opts.Batching = opts.Batching.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &UpdateStream{
		client: client, opts: opts, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		changed: make(chan struct{}), sessions: map[string]*tracked{}, pending: list.New(),
	}
	go s.run()
	return s
}

// Track starts (or restarts, after this bridge resumed the call again) writing
// for a session, from the Session that CreateSession or ResumeSession returned.
func (s *UpdateStream) Track(session *sessionstorev1.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[session.GetConversationId()] = &tracked{ownerEpoch: session.GetOwnerEpoch(), lastSeq: session.GetLastSeq()}
}

// Stopped is SESSION_FENCED or SESSION_ENDED once the session stopped taking writes, else "".
func (s *UpdateStream) Stopped(conversationID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.sessions[conversationID]; t != nil {
		return t.stopped
	}
	return ""
}

// Stats returns the counters so far.
func (s *UpdateStream) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Write queues one update of a tracked session. Its conversation_id, seq and
// owner_epoch are set here (the update is copied); the rest is the caller's.
// Write waits while MaxUnacked updates wait for acks, until ctx ends.
func (s *UpdateStream) Write(ctx context.Context, conversationID string, update *sessionstorev1.SessionUpdate) (*Pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.sessions[conversationID]
	if t == nil {
		return nil, fmt.Errorf("%s is not tracked: call Track with its Session first", conversationID)
	}
	if err := s.waitLocked(ctx, func() bool { return s.closing || s.pending.Len() < s.opts.MaxUnacked }); err != nil {
		return nil, err
	}
	if s.closing {
		return nil, errors.New("sessionstore: the update stream is closed")
	}
	if t.stopped != "" {
		return nil, &SessionStoppedError{conversationID, t.stopped}
	}
	t.lastSeq++
	u := proto.Clone(update).(*sessionstorev1.SessionUpdate)
	u.ConversationId, u.Seq, u.OwnerEpoch = conversationID, t.lastSeq, t.ownerEpoch
	p := &Pending{update: u, done: make(chan struct{})}
	p.elem = s.pending.PushBack(p)
	// A held session's write would only be refused: it waits for the session's resend.
	if s.sendq != nil && !s.overload.holds(conversationID) {
		s.sendLocked(p)
	}
	s.broadcastLocked()
	return p, nil
}

// Flush waits until every update written so far has its ack.
func (s *UpdateStream) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waitLocked(ctx, func() bool { return s.pending.Len() == 0 })
}

// Close waits (until ctx ends) for outstanding acks, then ends the stream.
// Updates still unacknowledged fail with *StreamFailedError.
func (s *UpdateStream) Close(ctx context.Context) error {
	flushErr := s.Flush(ctx)
	s.mu.Lock()
	s.closing = true
	if s.sendq != nil {
		close(s.sendq) // half-close: the sidecar acks what it has read, then ends the stream
		s.sendq = nil
	}
	if s.pending.Len() > 0 {
		s.cancel()
	}
	s.broadcastLocked()
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.mu.Lock()
	s.forgetHoldsLocked()
	failed := s.takePendingLocked()
	s.mu.Unlock()
	fail(failed, &StreamFailedError{status.New(codes.Canceled, "the update stream was closed")})
	s.cancel()
	return flushErr
}

// waitLocked waits, with s.mu held around each check, until ready() or ctx ends.
func (s *UpdateStream) waitLocked(ctx context.Context, ready func() bool) error {
	for !ready() {
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			s.mu.Lock()
			return ctx.Err()
		}
		s.mu.Lock()
	}
	return nil
}

func (s *UpdateStream) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}
