import { setTimeout as sleep } from "node:timers/promises";
import type { SessionStoreClient } from "../../src/client/session-store-client.js";
import { SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { ackReason, openUpdateStream } from "./update-stream-raw.js";

/**
 * A bridge's streaming load through a failure of Redis: rounds of one update
 * per session on one StreamUpdates call, each update appending the history
 * item "u<seq>", the next round sent as soon as the last one's acks are in.
 * At round `failAt` the failure is injected with that round's updates in
 * flight; the load goes on until updates are acknowledged again, and for
 * `roundsAfter` more rounds. When the sidecar ends the stream (it does, with
 * UNAVAILABLE, once its store fails as a whole), the updates of the round
 * not acknowledged count as failed with the stream's status, and a new
 * stream is opened, as a bridge's client does. Then every session is read back, so the caller
 * can compare what was acknowledged with what is stored.
 */
export interface FailoverRun {
  /** Acknowledged (without error) updates: conversation_id → seqs. */
  acked: Map<string, bigint[]>;
  /** The error acks and stream ends, each with its gRPC code and ErrorInfo reason. */
  errors: { code: number; reason: string | undefined }[];
  /** From the failure's start to the first successful ack after it, in ms. */
  recoveryMs: number;
  /** Acknowledged updates whose history item is not in the session afterwards. */
  lost: number;
  /** Acknowledged updates in all. */
  ackedCount: number;
}

export interface FailoverLoadOptions {
  address: string;
  /**
   * Creates the sessions and reads them back afterwards. Give it retries: just
   * after a Sentinel failover the sidecar may reconnect once more (when the
   * +switch-master announcement reaches it after it already found the new
   * primary), and a read-back must not fail on that.
   */
  client: SessionStoreClient;
  sessions: number;
  failAt: number;
  roundsAfter: number;
  /** Injects the failure (e.g. SIGKILL the primary) and resolves once it is in effect. */
  fail(): Promise<unknown>;
  /** Started right after fail(): the load goes on at least until it settles (e.g. a resharding), and its failure fails the run. */
  during?: () => Promise<unknown>;
  /** Gives up (throws) when updates are not acknowledged again within this long. */
  giveUpAfterMs?: number;
  prefix?: string;
}

export async function runFailoverLoad(options: FailoverLoadOptions): Promise<FailoverRun> {
  const prefix = options.prefix ?? "failover";
  const ids = Array.from({ length: options.sessions }, (_, i) => `${prefix}-${i}`);
  for (const id of ids) await options.client.createSession({ ownerId: "pod-a", session: { conversationId: id } });
  let stream = openUpdateStream(options.address);
  const acked = new Map<string, bigint[]>(ids.map((id) => [id, []]));
  const errors: FailoverRun["errors"] = [];
  let failedAt = 0;
  let recoveredAt = 0;
  let afterRecovery = 0;
  let during: Promise<unknown> | undefined;
  let settled = options.during === undefined;
  try {
    for (let round = 1; afterRecovery < options.roundsAfter || !settled; round++) {
      const seq = BigInt(round);
      const first = stream.acks.length;
      for (const id of ids) await stream.send({ conversationId: id, seq, appendHistory: [{ itemId: `u${seq}` }] });
      // Only rounds sent after the failure took effect can show the recovery.
      const afterFailure = failedAt > 0;
      if (round === options.failAt) {
        failedAt = performance.now();
        await options.fail();
        during = options.during?.();
        during?.then(() => (settled = true), () => (settled = true));
      }
      let failed = false;
      const acks = await withinDeadline(stream.waitForAcks(first + ids.length), ACK_DEADLINE_MS, () => {
        const since = failedAt > 0 ? `${Math.round(performance.now() - failedAt)} ms after the failure` : "before the failure";
        return `round ${round}: ${stream.acks.length - first} of ${ids.length} updates answered within ${ACK_DEADLINE_MS} ms (${since}); the sidecar neither acknowledged, refused nor ended the stream`;
      }).catch((error: unknown) => {
        if (error instanceof AckDeadlineError) throw error;
        return undefined; // the stream ended: handled below
      });
      for (const ack of (acks ?? stream.acks).slice(first)) {
        if (ack.error) {
          failed = true;
          errors.push({ code: ack.error.code, reason: ackReason(ack) });
        } else {
          acked.get(ack.conversationId)!.push(ack.seq);
          if (afterFailure && recoveredAt === 0) recoveredAt = performance.now();
        }
      }
      if (acks === undefined) {
        const end = await stream.ended;
        errors.push({ code: end.code, reason: end.errorDetails.errorInfo?.reason });
        failed = true;
        stream.close();
        stream = openUpdateStream(options.address);
      }
      if (recoveredAt > 0) afterRecovery += 1;
      const giveUpAfterMs = options.giveUpAfterMs ?? 60_000;
      if (failedAt > 0 && recoveredAt === 0 && performance.now() - failedAt > giveUpAfterMs) {
        // What the acks said meanwhile, so that a run that never recovers says why (a refusal repeated, or silence).
        const last = errors.slice(-3).map((e) => `${e.code} ${e.reason ?? "(no reason)"}`).join("; ");
        throw new Error(`updates were not acknowledged again within ${giveUpAfterMs} ms of the failure; ${errors.length} error acks, the last: ${last || "none"}`);
      }
      // While Redis is away every round fails at once: no need to spin.
      if (failed) await sleep(20);
    }
  } finally {
    stream.halfClose();
    await stream.ended;
    stream.close();
  }
  await during;
  let lost = 0;
  let ackedCount = 0;
  for (const id of ids) {
    const { session } = await options.client.getSession({ conversationId: id, view: SessionView.FULL });
    const stored = new Set(session?.conversationHistory.map((item) => item.itemId));
    for (const seq of acked.get(id)!) {
      ackedCount += 1;
      if (!stored.has(`u${seq}`)) lost += 1;
    }
  }
  return { acked, errors, recoveryMs: recoveredAt - failedAt, lost, ackedCount };
}


/**
 * Every update is answered within this long, failure or not: the sidecar fails
 * updates fast while Redis is away (its commands time out well before). A
 * round still unanswered after it is a hang, and the run says which round
 * instead of waiting out the test's timeout.
 */
const ACK_DEADLINE_MS = 20_000;

class AckDeadlineError extends Error {}

function withinDeadline<T>(promise: Promise<T>, ms: number, describe: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AckDeadlineError(describe())), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
