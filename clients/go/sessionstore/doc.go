// Package sessionstore is the Go client of the sessionstore sidecar.
//
// The generated stubs are in the gen/sessionstore/v1 package
// (sessionstorev1.NewSessionStoreServiceClient); this package adds what they
// make awkward: Dial with the options a sidecar on loopback wants, reading the
// google.rpc.ErrorInfo of a refusal (ErrorInfo, Reason), and UpdateStream, an
// update stream helper that batches writes into StreamUpdateBatches, numbers
// each session's writes, replays the unacknowledged ones after a reconnect,
// resends those the sidecar shed as OVERLOADED, and reports fencing; and
// RealtimeRestoreOf, the OpenAI Realtime client events that replay a stored
// conversation into a new model session.
package sessionstore
