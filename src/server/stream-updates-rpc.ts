import type { MethodDefinition, ServerDuplexStream, ServiceDefinition } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { SidecarMetrics } from "../metrics/sidecar-metrics.js";
import { type SessionUpdate, SessionUpdateSchema, StreamUpdateBatchesRequestSchema } from "../gen/sessionstore/v1/session_store_pb.js";
import { encodedAck, encodedAckBatch } from "../grpc/ack-encoding.js";
import { splitFields } from "../grpc/length-delimited.js";
import { decodeRequest, UndecodableRequest } from "../grpc/request-decoding.js";
import { shuttingDown } from "../session/errors.js";
import type { Authenticator, Caller } from "./auth.js";
import { asSessionError, toServiceError } from "./error-status.js";
import type { SessionActivity } from "./session-activity.js";
import type { GroupCommitter } from "./group-commit.js";
import { type AckWriter, type ReceivedMessage, StreamUpdatesCall, type StreamUpdatesLimits } from "./stream-updates-call.js";

export interface StreamUpdatesOptions {
  committer: GroupCommitter;
  auth: Authenticator;
  limits: StreamUpdatesLimits;
  logger: Logger;
  metrics?: SidecarMetrics | undefined;
  activity: SessionActivity;
}

type Handler = (call: ServerDuplexStream<ReceivedMessage, unknown>) => void;

/** StreamUpdates: an ack per message. */
const oneAckPerMessage: AckWriter = (call, acks) => {
  let room = true;
  for (const ack of acks) room = call.write(encodedAck(ack));
  return room;
};

/** StreamUpdateBatches: every ack that is ready, in one message. */
const readyAcksInOneMessage: AckWriter = (call, acks) => call.write(encodedAckBatch(acks));

/**
 * The two update-stream RPCs, StreamUpdates and StreamUpdateBatches:
 * authenticates each call once, runs it as a StreamUpdatesCall, and keeps the
 * open ones so shutdown can drain them.
 */
export class StreamUpdatesRpc {
  private readonly open = new Set<StreamUpdatesCall>();
  private stopping = false;
  private readonly log: Logger;

  constructor(private readonly options: StreamUpdatesOptions) {
    this.log = options.logger.child({ module: "update-stream" });
  }

  /** The grpc-js handlers; the methods must be registered with measuredUpdates() so they read ReceivedMessage. */
  readonly handlers: { streamUpdates: Handler; streamUpdateBatches: Handler } = {
    streamUpdates: (call) => this.start(call, oneAckPerMessage, "StreamUpdates"),
    streamUpdateBatches: (call) => this.start(call, readyAcksInOneMessage, "StreamUpdateBatches"),
  };

  /**
   * Shutdown: refuses new streams, then lets every open stream commit and
   * ack what it has read before ending it with UNAVAILABLE. Resolves when all
   * have ended.
   */
  async drain(): Promise<void> {
    this.stopping = true;
    if (this.open.size > 0) this.log.info({ streams: this.open.size }, "draining update streams");
    await Promise.all([...this.open].map((stream) => stream.drain()));
  }

  private start(call: ServerDuplexStream<ReceivedMessage, unknown>, writeAcks: AckWriter, method: string): void {
    let caller: () => Caller;
    try {
      // A stream that starts as shutdown begins must not take updates it could not finish acking.
      if (this.stopping) throw shuttingDown();
      caller = this.options.auth.liveCallerOf(call.metadata);
    } catch (err) {
      const error = asSessionError(err, this.log);
      this.options.activity.callFailed(method, undefined, undefined, error);
      call.emit("error", toServiceError(error, this.log));
      return;
    }
    const log = this.log.child({ tenant: caller().tenant, peer: call.getPeer() });
    const stream = new StreamUpdatesCall(call, caller, this.options.committer, this.options.limits, writeAcks, log, { method, activity: this.options.activity }, this.options.metrics);
    this.open.add(stream);
    log.debug({ streams: this.open.size }, "update stream opened");
    void stream.done.then(() => this.open.delete(stream));
  }
}

/**
 * The service definition with the update streams' request decoders measuring
 * each message: its encoded size is what backpressure and group limits
 * count, and grpc-js has it only while decoding. Only the server's definition
 * changes; clients still send plain SessionUpdates and batches.
 */
export function measuredUpdates(definition: ServiceDefinition): ServiceDefinition {
  const single = definition.streamUpdates as MethodDefinition<unknown, unknown> | undefined;
  const batches = definition.streamUpdateBatches as MethodDefinition<unknown, unknown> | undefined;
  if (!single || !batches) throw new Error("the service has no StreamUpdates or StreamUpdateBatches method");
  return {
    ...definition,
    streamUpdates: {
      ...single,
      requestDeserialize: (bytes: Buffer): ReceivedMessage => {
        const update = decodeRequest(SessionUpdateSchema, bytes);
        if (update instanceof UndecodableRequest) return { updates: [], bytes: bytes.length, undecodable: update };
        return { updates: [update], encoded: [bytes], bytes: bytes.length };
      },
    },
    streamUpdateBatches: {
      ...batches,
      requestDeserialize: decodeBatch,
    },
  };
}

/**
 * StreamUpdateBatchesRequest is one repeated field: each update is decoded
 * from its own bytes, which are kept. A message with any update that cannot
 * be decoded is refused whole.
 */
function decodeBatch(bytes: Buffer): ReceivedMessage {
  let encoded: Uint8Array[];
  try {
    encoded = splitFields(bytes, StreamUpdateBatchesRequestSchema.field.updates.number);
  } catch (err) {
    const problem = err instanceof Error ? err.message : String(err);
    return { updates: [], bytes: bytes.length, undecodable: new UndecodableRequest(StreamUpdateBatchesRequestSchema.typeName, problem) };
  }
  const updates: SessionUpdate[] = [];
  for (const [i, element] of encoded.entries()) {
    const update = decodeRequest(SessionUpdateSchema, element, i);
    if (update instanceof UndecodableRequest) return { updates: [], bytes: bytes.length, undecodable: update };
    updates.push(update);
  }
  return { updates, encoded, bytes: bytes.length };
}
