package sessionstore

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// Domain is the ErrorInfo domain of every refusal the sidecar sends.
const Domain = "sessionstore"

// ErrorInfo returns the google.rpc.ErrorInfo carried by a failed call (in the
// grpc-status-details-bin trailer) or by an UpdateStream refusal, or nil when
// there is none (e.g. the sidecar could not be reached).
func ErrorInfo(err error) *errdetails.ErrorInfo {
	info, _ := detail[*errdetails.ErrorInfo](err)
	return info
}

// Reason is ErrorInfo(err).Reason, such as "SESSION_NOT_FOUND" or
// "SESSION_FENCED": the stable thing to branch on. Empty when err has none.
func Reason(err error) string {
	return ErrorInfo(err).GetReason()
}

// BadRequest returns the field violations of an INVALID_ARGUMENT refusal.
func BadRequest(err error) *errdetails.BadRequest {
	bad, _ := detail[*errdetails.BadRequest](err)
	return bad
}

// RetryInfo returns how long to wait before trying again, for a refusal that
// says (an UpdateStream refusal as OVERLOADED does), or nil.
func RetryInfo(err error) *errdetails.RetryInfo {
	retry, _ := detail[*errdetails.RetryInfo](err)
	return retry
}

func detail[T any](err error) (T, bool) {
	var zero T
	// FromError also unwraps errors that carry a status, such as *UpdateRefusedError.
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return zero, false
	}
	for _, d := range st.Details() {
		if typed, ok := d.(T); ok {
			return typed, true
		}
	}
	return zero, false
}
