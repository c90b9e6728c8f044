import { fromBinary } from "@bufbuild/protobuf";
import type { MethodDefinition, ServerDuplexStream, ServiceDefinition } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { SessionUpdateSchema, type UpdateAck } from "../gen/sessionstore/v1/session_store_pb.js";
import { shuttingDown } from "../session/errors.js";
import { tenantOf } from "./auth.js";
import { toServiceError } from "./error-status.js";
import type { GroupCommitter } from "./group-commit.js";
import { type ReceivedUpdate, StreamUpdatesCall, type StreamUpdatesLimits } from "./stream-updates-call.js";

export interface StreamUpdatesOptions {
  committer: GroupCommitter;
  authTokens: ReadonlyMap<string, string>;
  limits: StreamUpdatesLimits;
  logger: Logger;
}

/**
 * The StreamUpdates RPC: authenticates each call once, runs it as an
 * StreamUpdatesCall, and keeps the open ones so shutdown can drain them.
 */
export class StreamUpdatesRpc {
  private readonly open = new Set<StreamUpdatesCall>();
  private stopping = false;
  private readonly log: Logger;

  constructor(private readonly options: StreamUpdatesOptions) {
    this.log = options.logger.child({ module: "update-stream" });
  }

  /** The grpc-js handler; the method must be registered with measuredUpdates() so it reads ReceivedUpdate. */
  readonly handler = (call: ServerDuplexStream<ReceivedUpdate, UpdateAck>): void => {
    let tenant: string;
    try {
      // A stream that starts as shutdown begins must not take updates it could not finish acking.
      if (this.stopping) throw shuttingDown();
      tenant = tenantOf(call.metadata, this.options.authTokens);
    } catch (err) {
      call.emit("error", toServiceError(err, this.log));
      return;
    }
    const log = this.log.child({ tenant, peer: call.getPeer() });
    const stream = new StreamUpdatesCall(call, tenant, this.options.committer, this.options.limits, log);
    this.open.add(stream);
    log.debug({ streams: this.open.size }, "update stream opened");
    void stream.done.then(() => this.open.delete(stream));
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
}

/**
 * The service definition with StreamUpdates' request decoder measuring each
 * message: its encoded size is what backpressure and group limits count, and
 * grpc-js has it only while decoding. Only the server's definition changes;
 * clients still send plain SessionUpdates.
 */
export function measuredUpdates(definition: ServiceDefinition): ServiceDefinition {
  const method = definition.streamUpdates as MethodDefinition<unknown, unknown> | undefined;
  if (!method) throw new Error("the service has no StreamUpdates method");
  const requestDeserialize = (bytes: Buffer): ReceivedUpdate => ({ update: fromBinary(SessionUpdateSchema, bytes), bytes: bytes.length });
  return { ...definition, streamUpdates: { ...method, requestDeserialize } };
}
