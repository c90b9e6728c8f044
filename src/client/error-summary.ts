import { status as GrpcStatus } from "@grpc/grpc-js";
import { errorDetailsOf } from "./error-details.js";

/**
 * A failed call in one line for a person: the gRPC code by name, the
 * ErrorInfo reason, the message, then ErrorInfo's metadata and the fields a
 * BadRequest names — e.g.
 * `NOT_FOUND SESSION_NOT_FOUND: session "c-1" not found (conversation_id=c-1)`.
 * Errors that are not gRPC errors give their message alone.
 */
export function errorSummaryOf(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (!(err instanceof Error) || typeof code !== "number") return err instanceof Error ? err.message : String(err);
  const { errorInfo, badRequest } = errorDetailsOf(err);
  // grpc-js puts "<code> <NAME>: " before the server's message; the name is said once, below.
  const message = ((err as { details?: unknown }).details as string | undefined) ?? err.message.replace(/^\d+ [A-Z_]+: /, "");
  const head = [GrpcStatus[code] ?? `code ${code}`, errorInfo?.reason].filter((part) => part !== undefined && part !== "").join(" ");
  const facts = [
    ...Object.entries(errorInfo?.metadata ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, value]) => `${key}=${value}`),
    ...(badRequest?.fieldViolations ?? []).map((v) => `field ${v.field}: ${v.description}`),
  ];
  return `${head}: ${message.replace(/\s+/g, " ").trim()}${facts.length === 0 ? "" : ` (${facts.join("; ")})`}`;
}
