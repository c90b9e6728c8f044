import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { messageTooLarge } from "../session/errors.js";
import { toServiceError } from "./error-status.js";

const DETAILS_KEY = "grpc-status-details-bin";

/** What grpc-js's sendStatus takes (its type is not exported by name). */
type CallStatus = Parameters<grpc.ServerInterceptingCallInterface["sendStatus"]>[0];

/**
 * grpc-js ends some calls itself, before any handler of ours runs: a request
 * over the receive limit is answered RESOURCE_EXHAUSTED with a bare message.
 * This interceptor gives such a status its ErrorInfo, as every status of the
 * sidecar has, so a client can tell the limit and its value from the reason.
 *
 * The status of an over-large message is sent by grpc-js's innermost call
 * on itself, past every interceptor's responder, so the interceptor wraps
 * that call's own sendStatus (the first interceptor is handed the innermost
 * call). Statuses our handlers made already carry their details and pass
 * through unchanged.
 */
export function transportStatusInterceptor(maxMessageBytes: number, logger: Logger): grpc.ServerInterceptor {
  const log = logger.child({ module: "server" });
  return (_method, call) => {
    const sendStatus = call.sendStatus.bind(call);
    call.sendStatus = (status) => sendStatus(withErrorInfo(status, maxMessageBytes, log));
    return new grpc.ServerInterceptingCall(call);
  };
}

function withErrorInfo(status: CallStatus, maxMessageBytes: number, log: Logger): CallStatus {
  if (status.code !== grpc.status.RESOURCE_EXHAUSTED || status.metadata?.get(DETAILS_KEY).length) return status;
  const error = toServiceError(messageTooLarge(maxMessageBytes, status.details), log);
  log.debug({ code: error.code, message: error.details }, "request refused by gRPC");
  const metadata = status.metadata?.clone() ?? new grpc.Metadata();
  metadata.merge(error.metadata!);
  return { code: error.code!, details: error.details!, metadata };
}
