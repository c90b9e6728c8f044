import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack, durationFromMs } from "@bufbuild/protobuf/wkt";
import { Metadata, type ServiceError, status as GrpcCode } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { BadRequestSchema, ErrorInfoSchema, PreconditionFailureSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { type Status, StatusSchema } from "../gen/google/rpc/status_pb.js";
import { Reason, SessionError } from "../session/errors.js";

const ERROR_DOMAIN = "sessionstore";

/** The one table from domain reasons to gRPC codes. */
export const codeOf: Record<Reason, GrpcCode> = {
  [Reason.InvalidArgument]: GrpcCode.INVALID_ARGUMENT,
  [Reason.InvalidPageToken]: GrpcCode.INVALID_ARGUMENT,
  [Reason.MalformedRequest]: GrpcCode.INVALID_ARGUMENT,
  [Reason.MessageTooLarge]: GrpcCode.RESOURCE_EXHAUSTED,
  [Reason.SessionNotFound]: GrpcCode.NOT_FOUND,
  [Reason.HistoryItemNotFound]: GrpcCode.NOT_FOUND,
  [Reason.SessionExists]: GrpcCode.ALREADY_EXISTS,
  [Reason.MaxSessions]: GrpcCode.RESOURCE_EXHAUSTED,
  [Reason.LimitExceeded]: GrpcCode.RESOURCE_EXHAUSTED,
  [Reason.SessionEnded]: GrpcCode.FAILED_PRECONDITION,
  [Reason.ResumeWindowExpired]: GrpcCode.FAILED_PRECONDITION,
  [Reason.MaxResumesExceeded]: GrpcCode.FAILED_PRECONDITION,
  [Reason.SessionFenced]: GrpcCode.FAILED_PRECONDITION,
  [Reason.InvalidTransition]: GrpcCode.FAILED_PRECONDITION,
  [Reason.EtagMismatch]: GrpcCode.ABORTED,
  [Reason.Unauthenticated]: GrpcCode.UNAUTHENTICATED,
  [Reason.PermissionDenied]: GrpcCode.PERMISSION_DENIED,
  [Reason.StorageUnavailable]: GrpcCode.UNAVAILABLE,
  // gRPC's own definition of RESOURCE_EXHAUSTED names "the entire file system is out of space".
  [Reason.StorageFull]: GrpcCode.RESOURCE_EXHAUSTED,
  [Reason.ShuttingDown]: GrpcCode.UNAVAILABLE,
  [Reason.Overloaded]: GrpcCode.UNAVAILABLE,
  [Reason.WatchTooSlow]: GrpcCode.RESOURCE_EXHAUSTED,
  [Reason.DataCorrupted]: GrpcCode.DATA_LOSS,
  [Reason.Internal]: GrpcCode.INTERNAL,
};

/** Which precondition a FAILED_PRECONDITION / ABORTED reason is about, for PreconditionFailure. */
const preconditionType: Partial<Record<Reason, string>> = {
  [Reason.SessionFenced]: "OWNER_EPOCH",
  [Reason.EtagMismatch]: "ETAG",
  [Reason.SessionEnded]: "STATUS",
  [Reason.InvalidTransition]: "STATUS",
  [Reason.ResumeWindowExpired]: "RESUME_WINDOW",
  [Reason.MaxResumesExceeded]: "RESUME_ATTEMPTS",
};

/**
 * Any thrown value as a SessionError a client may see. Anything that is not
 * already one is an internal failure: logged here with its cause and stack,
 * and replaced by a message that reveals nothing about the internals.
 */
export function asSessionError(err: unknown, log: Logger): SessionError {
  if (err instanceof SessionError) {
    if (err.reason === Reason.Internal || err.reason === Reason.StorageUnavailable || err.reason === Reason.StorageFull) log.error({ err, cause: err.cause }, err.message);
    return err;
  }
  log.error({ err }, "internal error");
  return new SessionError(Reason.Internal, "internal error in the sidecar; its log has the details", { cause: err });
}

/**
 * Past capacity one OVERLOADED error refuses a whole shed batch and every
 * later update of those sessions on a stream (group-commit.ts,
 * stream-updates-call.ts): its Status is made once, and its ack encoding
 * (ack-encoding.ts) with it. Errors, like records, never change once made.
 */
const statuses = new WeakMap<SessionError, Status>();

/** The google.rpc.Status for an error: code, message, ErrorInfo and, where they apply, BadRequest or PreconditionFailure. */
export function rpcStatusOf(err: SessionError): Status {
  let status = statuses.get(err);
  if (status === undefined) {
    status = newRpcStatus(err);
    statuses.set(err, status);
  }
  return status;
}

function newRpcStatus(err: SessionError): Status {
  const details = [anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason: err.reason, domain: ERROR_DOMAIN, metadata: err.metadata }))];
  if (err.violations.length > 0) {
    details.push(anyPack(BadRequestSchema, create(BadRequestSchema, { fieldViolations: err.violations })));
  }
  if (err.retryAfterMs !== undefined) {
    details.push(anyPack(RetryInfoSchema, create(RetryInfoSchema, { retryDelay: durationFromMs(err.retryAfterMs) })));
  }
  const type = preconditionType[err.reason];
  if (type) {
    details.push(
      anyPack(
        PreconditionFailureSchema,
        create(PreconditionFailureSchema, {
          violations: [{ type, subject: err.metadata.conversation_id ?? "", description: err.message }],
        }),
      ),
    );
  }
  return create(StatusSchema, { code: codeOf[err.reason], message: err.message, details });
}

/** The error object grpc-js sends: status code, message, and the details trailer. */
export function toServiceError(err: unknown, log: Logger): Partial<ServiceError> {
  const error = asSessionError(err, log);
  const status = rpcStatusOf(error);
  const metadata = new Metadata();
  metadata.set("grpc-status-details-bin", Buffer.from(toBinary(StatusSchema, status)));
  return { code: status.code, details: status.message, metadata };
}
