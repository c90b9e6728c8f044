import type { ServiceError } from "@grpc/grpc-js";
import { expect } from "vitest";
import { errorDetailsOf, type ErrorDetails } from "../../src/client/index.js";

/** Asserts a call fails with the given gRPC code and ErrorInfo reason; returns the error and its details. */
export async function expectRpcError(
  call: Promise<unknown>,
  code: number,
  reason: string,
): Promise<{ error: ServiceError; details: ErrorDetails }> {
  const error = await call.then(
    () => {
      throw new Error(`expected ${reason}, but the call succeeded`);
    },
    (err: ServiceError) => err,
  );
  const details = errorDetailsOf(error);
  expect({ code: error.code, reason: details.errorInfo?.reason, domain: details.errorInfo?.domain }).toEqual({
    code,
    reason,
    domain: "sessionstore",
  });
  return { error, details };
}
