/** The package's main entry: what a TypeScript bridge needs to talk to a sidecar. */
export {
  SessionStoreClient,
  type CallOptions,
  type SessionStoreClientOptions,
  type ClientTlsOptions,
  type UpdateBatchStreamCall,
  type UpdateStreamCall,
  type WatchSessionsCall,
} from "./session-store-client.js";
export { BridgeUpdateStream } from "./bridge-update-stream.js";
export type {
  BridgeUpdateStreamOptions,
  BridgeUpdateStreamStats,
  DisconnectInfo,
  SessionStopInfo,
  UpdateParts,
  WriteOptions,
} from "./bridge-update-stream-options.js";
export { UpdateError, type LocalFailure } from "./update-error.js";
export type { Batching } from "./update-batcher.js";
export { Backoff, backoffDelay, type BackoffOptions } from "./backoff.js";
export type { RetryInfo, RetryOptions } from "./retry.js";
export {
  REALTIME_SESSION_KEY,
  realtimeRestore,
  type RealtimeClientEvent,
  type RealtimeContentPart,
  type RealtimeItem,
  type RealtimeRestore,
  type RestoreBudget,
} from "./realtime-restore.js";
export { errorDetailsOf, errorReasonOf, rpcStatusOf, statusDetailsOf, type ErrorDetails } from "./error-details.js";
export { errorSummaryOf } from "./error-summary.js";
export * from "../gen/sessionstore/v1/session_store_pb.js";
