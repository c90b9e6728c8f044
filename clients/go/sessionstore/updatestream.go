package sessionstore

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	sessionstorev1 "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
)

// UpdateStream carries a bridge's writes for all its calls on one update
// stream, with the bookkeeping that makes the stream safe to lose: each write
// gets its session's next seq, is kept until the sidecar acknowledges it as
// durable, and is replayed in order on a new stream when one breaks; a session
// the sidecar refuses as fenced or ended stops (OnFenced / OnEnded, then
// *SessionStoppedError); writes are batched into StreamUpdateBatches unless
// Batching.Disabled; an OVERLOADED refusal is held and sent again
// (overloadHold); Write waits while MaxUnacked updates are unacknowledged.
//
// The rules the three client libraries follow (seq numbering, duplicates,
// replay, fencing and ending, batching, overload) are described once, in
// docs/UPDATE-STREAM-PROTOCOL.md of the repository, and tested by its shared
// fixtures (test/fixtures/update-stream-protocol.json). All methods are safe
// for concurrent use.
type UpdateStream struct {
	client sessionstorev1.SessionStoreServiceClient
	opts   UpdateStreamOptions
	ctx    context.Context // NewUpdateStream's, ended too when Close gives up waiting: it ends every stream
	cancel context.CancelFunc
	done   chan struct{} // closed when the stream goroutine returns

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change that a waiter may be waiting for
	sessions map[string]*tracked
	pending  *list.List // of *Pending, in write order: the replay order
	inflight map[string][]*Pending
	sendq    chan *sessionstorev1.SessionUpdate // the open stream's; nil while none is open
	closing  bool
	closeErr error // what Write returns once closing: ErrStreamClosed, wrapping the context's error when that ended the stream
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
	stopped             *UpdateRefusedError // the refusal that stopped the session's writes
}

// NewUpdateStream starts the goroutine that opens and reopens the stream on
// client (a *Client, or any SessionStoreServiceClient). It runs until Close, or
// until ctx ends: then the stream is cancelled, updates not yet acknowledged
// fail with *StreamFailedError, and Write returns ErrStreamClosed.
func NewUpdateStream(ctx context.Context, client sessionstorev1.SessionStoreServiceClient, opts UpdateStreamOptions) *UpdateStream {
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
	ctx, cancel := context.WithCancel(ctx)
	s := &UpdateStream{
		client: client, opts: opts, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		changed: make(chan struct{}), sessions: map[string]*tracked{}, pending: list.New(),
	}
	go s.run()
	return s
}

// Track starts (or restarts, after this bridge resumed the call again) writing
// for a session, from the Session that CreateSession or ResumeSession returned:
// its writes carry that owner_epoch, and their seqs follow its last_seq. Tracking
// again lifts a stop, and never hands out a seq twice.
func (s *UpdateStream) Track(session *sessionstorev1.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := session.GetConversationId()
	lastSeq := session.GetLastSeq()
	if known := s.sessions[id]; known != nil {
		lastSeq = max(lastSeq, known.lastSeq)
	}
	s.sessions[id] = &tracked{ownerEpoch: session.GetOwnerEpoch(), lastSeq: lastSeq}
}

// Stopped is ReasonSessionFenced or ReasonSessionEnded once the session stopped taking writes, else "".
func (s *UpdateStream) Stopped(conversationID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.sessions[conversationID]; t != nil && t.stopped != nil {
		return Reason(t.stopped)
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
// Write waits while MaxUnacked updates wait for acks, until ctx ends (and then
// returns ctx.Err()). It fails with *SessionStoppedError for a stopped session
// and ErrStreamClosed once the stream is closed.
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
		return nil, s.closeErr
	}
	if t.stopped != nil {
		return nil, &SessionStoppedError{ConversationID: conversationID, Reason: Reason(t.stopped), Refusal: t.stopped}
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
	if !s.closing {
		s.closing, s.closeErr = true, ErrStreamClosed
	}
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

// ended ends the stream when NewUpdateStream's context ends before Close.
func (s *UpdateStream) ended() {
	s.mu.Lock()
	if s.closing { // Close is ending it, and fails what is left
		s.mu.Unlock()
		return
	}
	s.closing, s.closeErr = true, fmt.Errorf("%w: %w", ErrStreamClosed, s.ctx.Err())
	s.forgetHoldsLocked()
	failed := s.takePendingLocked()
	s.mu.Unlock()
	fail(failed, &StreamFailedError{status.FromContextError(s.ctx.Err())})
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
