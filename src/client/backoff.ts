/**
 * Exponential backoff with jitter, shared by the unary retries of
 * SessionStoreClient and the reconnects of BridgeUpdateStream.
 *
 * Jitter matters here more than usual: when a sidecar restarts, every bridge
 * process on the node (and every stream in each) notices within the same
 * millisecond. Without jitter they would all come back in lock-step and hit
 * the new process at once, retry after retry.
 */
export interface BackoffOptions {
  /** Delay before the first retry. Default 50 ms: a sidecar on loopback restarts in well under a second. */
  initialDelayMs?: number;
  /** Upper bound of any single delay. Default 2,000 ms, so a recovered sidecar is found quickly. */
  maxDelayMs?: number;
  /** Growth per attempt. Default 2. */
  multiplier?: number;
  /**
   * Spread of each delay, as a fraction: 0.2 draws it uniformly from ±20 % of
   * the nominal value. Default 0.2 (gRPC's own connection backoff uses the same).
   */
  jitter?: number;
}

export type ResolvedBackoffOptions = Required<BackoffOptions>;

const DEFAULTS: ResolvedBackoffOptions = { initialDelayMs: 50, maxDelayMs: 2_000, multiplier: 2, jitter: 0.2 };

/** Fills in defaults and refuses values that would make the policy spin or never wait. */
export function resolveBackoffOptions(options: BackoffOptions = {}): ResolvedBackoffOptions {
  const resolved = { ...DEFAULTS, ...withoutUndefined(options) };
  if (!(resolved.initialDelayMs >= 0)) throw new RangeError(`backoff initialDelayMs must be ≥ 0, got ${resolved.initialDelayMs}`);
  if (!(resolved.maxDelayMs >= resolved.initialDelayMs)) {
    throw new RangeError(`backoff maxDelayMs (${resolved.maxDelayMs}) must be ≥ initialDelayMs (${resolved.initialDelayMs})`);
  }
  if (!(resolved.multiplier >= 1)) throw new RangeError(`backoff multiplier must be ≥ 1, got ${resolved.multiplier}`);
  if (!(resolved.jitter >= 0 && resolved.jitter <= 1)) throw new RangeError(`backoff jitter must be within [0, 1], got ${resolved.jitter}`);
  return resolved;
}

/**
 * The delay before retry number `attempt` (0 for the first retry): the
 * nominal exponential value capped at maxDelayMs, then jittered. The cap is
 * applied before the jitter so that capped delays still spread out.
 */
export function backoffDelay(attempt: number, options: ResolvedBackoffOptions, random: () => number = Math.random): number {
  const nominal = Math.min(options.maxDelayMs, options.initialDelayMs * options.multiplier ** attempt);
  const spread = nominal * options.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(nominal + spread));
}

/**
 * A backoff that remembers how many times in a row it has been used, for a
 * loop that retries until something succeeds and then starts over.
 */
export class Backoff {
  private attempt = 0;
  private readonly options: ResolvedBackoffOptions;

  constructor(options: BackoffOptions = {}) {
    this.options = resolveBackoffOptions(options);
  }

  /** The next delay; each call grows the following one. */
  next(): number {
    return backoffDelay(this.attempt++, this.options);
  }

  /** After a success: the next failure waits the initial delay again. */
  reset(): void {
    this.attempt = 0;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withoutUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}
