import type { MessageInitShape } from "@bufbuild/protobuf";
import type { StatusObject } from "@grpc/grpc-js";
import type { SessionUpdateSchema } from "../gen/sessionstore/v1/session_store_pb.js";
import type { BackoffOptions } from "./backoff.js";
import type { Batching } from "./update-batcher.js";
import type { UpdateError } from "./update-error.js";

/** What a write carries; the stream fills in conversation_id, seq and owner_epoch. */
export type UpdateParts = Omit<MessageInitShape<typeof SessionUpdateSchema>, "$typeName" | "conversationId" | "seq" | "ownerEpoch">;

export interface WriteOptions {
  /** The epoch to write with; defaults to the one given to track(). 0 writes unfenced (administrative). */
  ownerEpoch?: bigint;
}

/** Why a session stopped accepting writes: the call moved to another bridge, or it ended. */
export interface SessionStopInfo {
  reason: "SESSION_FENCED" | "SESSION_ENDED";
  /** The sidecar's refusal; errorDetailsOf(error) has the current owner_epoch and owner_id for a fence. */
  error: UpdateError;
  /** Updates of the session that were waiting for an ack and were dropped (each rejected). */
  dropped: number;
}

export interface DisconnectInfo {
  /** The stream's final status: UNAVAILABLE when the sidecar stops or cannot be reached. */
  status: StatusObject;
  /** Updates not yet acknowledged; they are re-sent, in order, on the next stream. */
  unacked: number;
  /** When the stream is reopened; undefined when it is not (nothing to send, or closing, or a failure a retry would not cure). */
  reconnectInMs: number | undefined;
}

export interface BridgeUpdateStreamOptions {
  /**
   * Updates sent and not yet acknowledged, at most; beyond it write() waits.
   * This bounds the client's memory while the sidecar is slow or away.
   * Default 5,000 (about 16 MB of 100 ms PCM16 frames).
   */
  maxUnacked?: number;
  /**
   * Coalescing of writes into StreamUpdateBatches messages (see Batching for
   * the defaults); false sends each update in a StreamUpdates message of its own.
   */
  batching?: Batching | false;
  /** Delays between reconnects of a broken stream. Default 50 ms doubling to 2 s, ±20 %. */
  reconnect?: BackoffOptions;
  /** The sidecar refused a write as fenced: another bridge resumed the call. Writes for it are refused from now on. */
  onFenced?: (conversationId: string, info: SessionStopInfo) => void;
  /** The sidecar refused a write because the session has ended. Writes for it are refused from now on. */
  onEnded?: (conversationId: string, info: SessionStopInfo) => void;
  /** The stream broke; for logs and metrics. */
  onDisconnect?: (info: DisconnectInfo) => void;
}

/** Counters since the stream was created. */
export interface BridgeUpdateStreamStats {
  /** Acks of applied updates and of duplicates. */
  acked: number;
  /** Of those, duplicates: updates the sidecar already had (re-sent after a reconnect). */
  duplicates: number;
  /** Error acks. */
  refused: number;
  /** Streams opened after the first. */
  reconnects: number;
  /** Updates sent on a reopened stream: those unacknowledged when the last one broke, and those written while it was down. */
  replayed: number;
  /** Acks refusing an update as OVERLOADED; each such update was sent again later. */
  overloaded: number;
}
