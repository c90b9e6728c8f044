/** The package's main entry: what a TypeScript bridge needs to talk to a sidecar. */
export { SessionStoreClient, type CallOptions, type SessionStoreClientOptions } from "./session-store-client.js";
export { errorDetailsOf, errorReasonOf, rpcStatusOf, type ErrorDetails } from "./error-details.js";
export * from "../gen/sessionstore/v1/session_store_pb.js";
