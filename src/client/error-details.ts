import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import type { ServiceError } from "@grpc/grpc-js";
import {
  type BadRequest,
  BadRequestSchema,
  type ErrorInfo,
  ErrorInfoSchema,
  type PreconditionFailure,
  PreconditionFailureSchema,
  type RetryInfo,
  RetryInfoSchema,
} from "../gen/google/rpc/error_details_pb.js";
import { type Status, StatusSchema } from "../gen/google/rpc/status_pb.js";

/** The google.rpc.Status the sidecar put in the grpc-status-details-bin trailer, if any. */
export function rpcStatusOf(err: unknown): Status | undefined {
  const metadata = (err as Partial<ServiceError> | undefined)?.metadata;
  const bin = metadata?.get("grpc-status-details-bin")[0];
  return bin instanceof Buffer ? fromBinary(StatusSchema, bin) : undefined;
}

export interface ErrorDetails {
  errorInfo?: ErrorInfo;
  badRequest?: BadRequest;
  preconditionFailure?: PreconditionFailure;
  /** How long to wait before retrying: sent with OVERLOADED. */
  retryInfo?: RetryInfo;
}

/** The typed details of a sidecar error: ErrorInfo always, BadRequest / PreconditionFailure when they apply. */
export function errorDetailsOf(err: unknown): ErrorDetails {
  const status = rpcStatusOf(err);
  return status ? statusDetailsOf(status) : {};
}

/** The typed details of a google.rpc.Status, such as the `error` of an UpdateAck. */
export function statusDetailsOf(status: Status): ErrorDetails {
  const details: ErrorDetails = {};
  for (const any of status.details) {
    details.errorInfo ??= anyUnpack(any, ErrorInfoSchema);
    details.badRequest ??= anyUnpack(any, BadRequestSchema);
    details.preconditionFailure ??= anyUnpack(any, PreconditionFailureSchema);
    details.retryInfo ??= anyUnpack(any, RetryInfoSchema);
  }
  return details;
}

/** ErrorInfo.reason of a sidecar error (e.g. "SESSION_FENCED"), or undefined for other errors. */
export function errorReasonOf(err: unknown): string | undefined {
  return errorDetailsOf(err).errorInfo?.reason;
}
