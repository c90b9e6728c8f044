import { Metadata, type ServerWritableStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { WatchSessionsRequest, WatchSessionsResponse } from "../gen/sessionstore/v1/session_store_pb.js";
import { UndecodableRequest } from "../grpc/request-decoding.js";
import { type FieldViolation, malformedRequest, type SessionError, shuttingDown, throwIfInvalid } from "../session/errors.js";
import { isKnownStatus } from "../session/lifecycle.js";
import { conversationIdViolations } from "../session/validate.js";
import { refusalOf } from "./access.js";
import type { Authenticator } from "./auth.js";
import { asSessionError, toServiceError } from "./error-status.js";
import type { SessionActivity } from "./session-activity.js";
import type { SessionEvents } from "./session-events.js";
import { WatchSessionsCall } from "./watch-sessions-call.js";

export interface WatchSessionsOptions {
  events: SessionEvents;
  activity: SessionActivity;
  auth: Authenticator;
  logger: Logger;
}

const METHOD = "WatchSessions";

/**
 * WatchSessions: checks and authenticates the request, then runs it as a
 * WatchSessionsCall for the caller's tenant, and keeps the open ones so
 * shutdown can end them.
 */
export class WatchSessionsRpc {
  private readonly open = new Set<WatchSessionsCall>();
  private stopping = false;
  private readonly log: Logger;

  constructor(private readonly options: WatchSessionsOptions) {
    this.log = options.logger.child({ module: "watch" });
  }

  readonly handler = (call: ServerWritableStream<WatchSessionsRequest, WatchSessionsResponse>): void => {
    let tenant: string | undefined;
    const request: unknown = call.request;
    try {
      if (this.stopping) throw shuttingDown();
      const caller = this.options.auth.callerOf(call.metadata);
      tenant = caller.tenant;
      if (request instanceof UndecodableRequest) throw malformedRequest(request.typeName, request.problem);
      throwIfInvalid(requestViolations(request as WatchSessionsRequest));
      const refusal = refusalOf(METHOD, request, caller);
      if (refusal) throw refusal;
    } catch (err) {
      const error = asSessionError(err, this.log);
      const conversationId = request instanceof UndecodableRequest ? undefined : (request as WatchSessionsRequest).conversationId || undefined;
      this.options.activity.callFailed(METHOD, tenant, conversationId, error);
      call.emit("error", toServiceError(error, this.log));
      return;
    }
    const { conversationId, statuses } = request as WatchSessionsRequest;
    const watcher = tenant!;
    const log = this.log.child({ tenant: watcher, peer: call.getPeer() });
    const cutOff = (error: SessionError) => this.options.activity.callFailed(METHOD, watcher, conversationId || undefined, error);
    const watch = new WatchSessionsCall(call, { tenant: watcher, conversationId, statuses }, this.options.events, log, cutOff);
    this.open.add(watch);
    // Headers as soon as the other sidecars' events reach it too, not with the first event: they tell the client that events from here on reach it.
    void watch.relayed.then(() => {
      if (watch.open) call.sendMetadata(new Metadata());
    });
    log.debug({ watchers: this.open.size }, "watch opened");
    void watch.done.then(() => this.open.delete(watch));
  };

  /**
   * Shutdown: refuses new watches and ends the open ones with UNAVAILABLE
   * (SHUTTING_DOWN), so watchers reconnect to a sidecar that serves.
   */
  closeAll(): void {
    this.stopping = true;
    if (this.open.size > 0) this.log.info({ watchers: this.open.size }, "ending watch streams");
    for (const watch of this.open) watch.end(shuttingDown());
  }
}

function requestViolations(request: WatchSessionsRequest): FieldViolation[] {
  const violations = request.conversationId === "" ? [] : conversationIdViolations(request.conversationId, "conversation_id");
  request.statuses.forEach((s, i) => {
    if (!isKnownStatus(s)) violations.push({ field: `statuses[${i}]`, description: `unknown status ${s}` });
  });
  return violations;
}
