// Package sessionstore is the Go client of the sessionstore sidecar.
//
// Client (NewClient) is the generated SessionStoreService stub of package
// gen/sessionstore/v1 over a connection with the options a sidecar on loopback
// wants (WithToken, WithTLS for the rest); this package adds what the stub
// makes awkward: reading the google.rpc.ErrorInfo of a refusal (ErrorInfo,
// Reason); UpdateStream, an update stream helper that batches writes into
// StreamUpdateBatches, numbers each session's writes, replays the
// unacknowledged ones after a reconnect, resends those the sidecar shed as
// OVERLOADED, and reports fencing (its protocol: docs/UPDATE-STREAM-PROTOCOL.md
// of the repository); and RealtimeRestoreOf, the OpenAI Realtime client events
// that replay a stored conversation into a new model session.
package sessionstore
