import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { GrpcServerMetrics } from "../metrics/grpc-server-metrics.js";
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
 *
 * For the same reason the gRPC server metrics, when on, are taken here: only
 * the innermost call sees every status, grpc-js's own included, and every
 * message in and out.
 */
export function transportStatusInterceptor(maxMessageBytes: number, logger: Logger, metrics?: GrpcServerMetrics): grpc.ServerInterceptor {
  const log = logger.child({ module: "server" });
  return (method, call) => {
    const meter = metrics?.start(method);
    const sendStatus = call.sendStatus.bind(call);
    call.sendStatus = (status) => {
      const sent = withErrorInfo(status, maxMessageBytes, log);
      meter?.ended(sent.code);
      sendStatus(sent);
    };
    if (meter) {
      const sendMessage = call.sendMessage.bind(call);
      call.sendMessage = (message, callback) => {
        meter.sent();
        sendMessage(message, callback);
      };
      const start = call.start.bind(call);
      call.start = (listener) =>
        start({
          onReceiveMetadata: (metadata) => listener.onReceiveMetadata(metadata),
          onReceiveHalfClose: () => listener.onReceiveHalfClose(),
          onReceiveMessage: (message) => {
            meter.received();
            listener.onReceiveMessage(message);
          },
          // A call the client cancelled gets no status of ours.
          onCancel: () => {
            meter.ended(grpc.status.CANCELLED);
            listener.onCancel();
          },
        });
    }
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
