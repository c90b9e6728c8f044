package sessionstore

import (
	"fmt"

	"google.golang.org/grpc/status"
)

// StopInfo says why a session stopped taking writes.
type StopInfo struct {
	ConversationID string
	Reason         string // SESSION_FENCED or SESSION_ENDED
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

// UpdateRefusedError is the sidecar's refusal of one update. ErrorInfo and
// status.FromError read it like the error of a unary call.
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

// SessionStoppedError is returned for writes of a session that was fenced or ended.
type SessionStoppedError struct{ ConversationID, Reason string }

func (e *SessionStoppedError) Error() string {
	return fmt.Sprintf("%s: writes stopped (%s)", e.ConversationID, e.Reason)
}

// StreamFailedError fails the unacknowledged updates when the stream ends with a
// status that reconnecting would not cure (e.g. UNAUTHENTICATED), or is closed.
type StreamFailedError struct{ Status *status.Status }

func (e *StreamFailedError) Error() string { return "update stream failed: " + e.Status.String() }
