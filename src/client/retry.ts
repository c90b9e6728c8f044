import { type ServiceError, status as GrpcCode } from "@grpc/grpc-js";
import { type BackoffOptions, backoffDelay, resolveBackoffOptions, sleep } from "./backoff.js";

/** How SessionStoreClient retries the calls that are safe to retry. */
export interface RetryOptions {
  /** Attempts in all, the first included; 1 turns retries off. Default 5. */
  maxAttempts?: number;
  /** Delays between attempts. */
  backoff?: BackoffOptions;
  /** Called before each retry, for logs and metrics. */
  onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  /** The RPC's local name, e.g. "getSession". */
  method: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** How long the client waits before the next attempt. */
  delayMs: number;
  error: ServiceError;
}

/**
 * Which failures of which RPC may be retried. Retrying is safe only where a
 * second execution cannot differ from the first:
 *
 * - reads (GetSession, ValidateResume, ListSessions, GetStats) have no side
 *   effects, so they are retried when the sidecar is unreachable
 *   (UNAVAILABLE) and when an attempt ran out of time (DEADLINE_EXCEEDED);
 * - UpdateSession is retried only when the update carries a seq: the sidecar
 *   then applies it at most once, whether or not the first attempt got
 *   through. Only on UNAVAILABLE, where the attempt most likely never
 *   reached the sidecar; after a DEADLINE_EXCEEDED the caller should decide;
 * - never CreateSession (a retry of a create that got through fails with
 *   SESSION_EXISTS), ResumeSession (each resume moves owner_epoch and
 *   resumed_count: a retry would fence the caller's own first attempt),
 *   EndSession, DeleteSession or CleanupSessions (side effects whose result
 *   a retry would misreport).
 */
export function retryableCodes(method: string, request: unknown): ReadonlySet<GrpcCode> {
  if (READS.has(method)) return READ_CODES;
  if (method === "updateSession" && hasSeq(request)) return WRITE_CODES;
  return NONE;
}

const READS = new Set(["getSession", "validateResume", "listSessions", "getStats"]);
const READ_CODES: ReadonlySet<GrpcCode> = new Set([GrpcCode.UNAVAILABLE, GrpcCode.DEADLINE_EXCEEDED]);
const WRITE_CODES: ReadonlySet<GrpcCode> = new Set([GrpcCode.UNAVAILABLE]);
const NONE: ReadonlySet<GrpcCode> = new Set();

function hasSeq(request: unknown): boolean {
  const seq = (request as { update?: { seq?: bigint | number | string } } | undefined)?.update?.seq;
  return seq !== undefined && BigInt(seq) > 0n;
}

/** A RetryOptions with its defaults in place, ready for runWithRetries. */
export interface RetryPolicy {
  maxAttempts: number;
  backoff: ReturnType<typeof resolveBackoffOptions>;
  onRetry: ((info: RetryInfo) => void) | undefined;
}

export function resolveRetryPolicy(options: RetryOptions | false | undefined): RetryPolicy {
  if (options === false) return { maxAttempts: 1, backoff: resolveBackoffOptions(), onRetry: undefined };
  const maxAttempts = options?.maxAttempts ?? 5;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`retry maxAttempts must be an integer ≥ 1, got ${maxAttempts}`);
  return { maxAttempts, backoff: resolveBackoffOptions(options?.backoff), onRetry: options?.onRetry };
}

/**
 * Runs `attempt` until it succeeds, fails with a code outside `codes`, or
 * has been tried policy.maxAttempts times; the last error is the one thrown.
 */
export async function runWithRetries<T>(
  method: string,
  codes: ReadonlySet<GrpcCode>,
  policy: RetryPolicy,
  attempt: () => Promise<T>,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const error = err as ServiceError;
      if (n >= policy.maxAttempts || !codes.has(error.code)) throw error;
      const delayMs = backoffDelay(n - 1, policy.backoff);
      policy.onRetry?.({ method, attempt: n, delayMs, error });
      await sleep(delayMs);
    }
  }
}
