import type { Logger } from "../runtime/logger.js";
import { isDataCorrupted } from "../session/errors.js";

/** Damaged records remembered as already logged; past this the oldest are forgotten (and may be logged again). */
const REMEMBERED = 10_000;

/**
 * Where a store reports the damaged records it meets. Each one is logged
 * once per process, as an error, however often clients ask for it: a
 * bridge retrying a damaged session, or every list of its tenant skipping
 * it, must not fill the log with the same line. Anything that is not
 * DATA_CORRUPTED is ignored, so callers may hand over any error.
 */
export class CorruptionLog {
  private readonly logged = new Set<string>();

  constructor(private readonly log: Logger | undefined) {}

  report(tenant: string, err: unknown): void {
    if (!isDataCorrupted(err)) return;
    const { conversation_id: conversationId, part } = err.metadata;
    const key = `${tenant}\u0000${conversationId}\u0000${part}`;
    if (this.logged.has(key)) return;
    this.logged.add(key);
    if (this.logged.size > REMEMBERED) this.logged.delete(this.logged.values().next().value!);
    const cause = err.cause instanceof Error ? err.cause.message : undefined;
    this.log?.error({ tenant, conversationId, part, cause }, "a stored session record is damaged; the session fails with DATA_LOSS and is left out of lists until it is deleted or restored");
  }

  /** Reports the damaged records among a group's verdicts, each in its tenant. */
  reportSlots(items: readonly { tenant: string }[], slots: readonly unknown[]): void {
    slots.forEach((slot, i) => this.report(items[i]!.tenant, slot));
  }
}
