package sessionstore

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/status"
)

// The ErrorInfo reasons an UpdateStream acts on itself (every other reason is
// the caller's to read, with Reason).
const (
	// ReasonSessionFenced: another bridge resumed the call; this one's epoch is old.
	ReasonSessionFenced = "SESSION_FENCED"
	// ReasonSessionEnded: the session was ended (EndSession).
	ReasonSessionEnded = "SESSION_ENDED"
	// ReasonOverloaded: the sidecar could not commit the update in time and did
	// not apply it; UpdateStream sends it again.
	ReasonOverloaded = "OVERLOADED"
)

// ErrStreamClosed is returned by Write once Close has been called, or once the
// context the UpdateStream was made with has ended (the error then wraps that
// context's error too).
var ErrStreamClosed = errors.New("sessionstore: the update stream is closed")

// StopInfo says why a session stopped taking writes.
type StopInfo struct {
	ConversationID string
	Reason         string // ReasonSessionFenced or ReasonSessionEnded
	Err            *UpdateRefusedError
	Dropped        int // unacknowledged updates of the session dropped (each fails with *SessionStoppedError)
}

// Stats are counters since the stream was created.
type Stats struct {
	Acked      int // acks of applied updates and of duplicates
	Duplicates int // of those, updates the sidecar already had (re-sent after a reconnect)
	Refused    int // error acks other than OVERLOADED: the update failed
	Reconnects int // streams opened after the first
	Replayed   int // updates re-sent on a reopened stream
	Overloaded int // OVERLOADED acks: each such update was held and sent again later
}

// UpdateRefusedError is the sidecar's refusal of one update. ErrorInfo, Reason
// and status.FromError read it like the error of a unary call.
type UpdateRefusedError struct {
	ConversationID string
	Seq            int64
	Status         *status.Status
}

func (e *UpdateRefusedError) Error() string {
	return fmt.Sprintf("%s seq %d: %s %s: %s", e.ConversationID, e.Seq, e.Status.Code(), Reason(e), e.Status.Message())
}

// GRPCStatus lets status.FromError (and so ErrorInfo and Reason) read the refusal.
func (e *UpdateRefusedError) GRPCStatus() *status.Status { return e.Status }

// SessionStoppedError fails the writes of a session after the sidecar refused
// one of them as fenced or ended: those dropped unacknowledged, and those
// written since, which never reach the sidecar. Its status is that refusal's,
// so Reason and ErrorInfo read it (the current owner of a fenced call, say);
// errors.As(err, &*UpdateRefusedError) is true only for the refused update itself.
type SessionStoppedError struct {
	ConversationID string
	Reason         string // ReasonSessionFenced or ReasonSessionEnded
	Refusal        *UpdateRefusedError
}

func (e *SessionStoppedError) Error() string {
	return fmt.Sprintf("%s: writes stopped (%s)", e.ConversationID, e.Reason)
}

// GRPCStatus is the refusal's status, for status.FromError, ErrorInfo and Reason.
func (e *SessionStoppedError) GRPCStatus() *status.Status { return e.Refusal.Status }

// StreamFailedError fails the unacknowledged updates when the stream ends with a
// status that reconnecting would not cure (e.g. UNAUTHENTICATED), or is closed
// before they were acknowledged. status.Code reads its status.
type StreamFailedError struct{ Status *status.Status }

func (e *StreamFailedError) Error() string { return "update stream failed: " + e.Status.String() }

// GRPCStatus lets status.FromError read the stream's final status.
func (e *StreamFailedError) GRPCStatus() *status.Status { return e.Status }
