import { setImmediate as nextTurn } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { SessionStoreClient } from "../../src/client/index.js";
import { startSidecar, tempDbPath } from "../support/sidecar-process.js";
import { openUpdateStream, type RawUpdateStream } from "../support/update-stream-raw.js";

const SESSIONS = 8;
/** Acks to collect before stopping the server: enough that the stop lands mid-stream, under load. */
const ACKS_BEFORE_STOP = 2000;

function update(id: string, seq: number) {
  return {
    conversationId: id,
    seq: BigInt(seq),
    appendHistory: [{ itemId: `${id}/h${seq}` }],
    // 100 ms of 16 kHz PCM16, as a bridge sends it.
    appendAudio: [{ data: new Uint8Array(3200).fill(seq % 256) }],
  };
}

/**
 * Writes round-robin over the sessions, as fast as flow control allows, until
 * the stream ends. Returns the last seq sent per session.
 */
async function writeUntilEnd(stream: RawUpdateStream, ids: string[]): Promise<Map<string, number>> {
  const sent = new Map(ids.map((id) => [id, 0]));
  let over = false;
  void stream.ended.then(() => (over = true));
  for (let n = 0; !over; n++) {
    const id = ids[n % ids.length]!;
    const seq = sent.get(id)! + 1;
    sent.set(id, seq);
    await stream.send(update(id, seq));
    // Let acks in: a write grpc-js buffers resolves at once, without a turn of the event loop.
    if (n % 32 === 31) await nextTurn();
  }
  return sent;
}

/** Highest seq acknowledged without error, per session. */
function ackedSeqs(stream: RawUpdateStream, ids: string[]): Map<string, number> {
  const acked = new Map(ids.map((id) => [id, 0]));
  for (const ack of stream.acks) {
    expect(ack.error, `error ack for ${ack.conversationId} seq ${ack.seq}`).toBeUndefined();
    acked.set(ack.conversationId, Math.max(acked.get(ack.conversationId)!, Number(ack.seq)));
  }
  return acked;
}

/** Each session holds exactly its updates 1..n, in order, for some n at least what was acked; returns the total acked. */
async function expectAckedStored(client: SessionStoreClient, acked: Map<string, number>): Promise<number> {
  let total = 0;
  for (const [id, seq] of acked) {
    const { session } = await client.getSession({ conversationId: id });
    const stored = Number(session!.lastSeq);
    expect(stored, `${id}: acked ${seq}, stored ${stored}`).toBeGreaterThanOrEqual(seq);
    expect(session!.conversationHistory.map((h) => h.itemId)).toEqual(Array.from({ length: stored }, (_, i) => `${id}/h${i + 1}`));
    total += seq;
  }
  return total;
}

async function createSessions(client: SessionStoreClient, prefix: string): Promise<string[]> {
  const ids = Array.from({ length: SESSIONS }, (_, i) => `${prefix}-${i}`);
  for (const id of ids) await client.createSession({ session: { conversationId: id } });
  return ids;
}

// Acks mean "stored": whatever stops the server, an acked update is still there after a restart.
describe("StreamUpdates when the server stops", () => {
  it("keeps every acknowledged update when the process is killed with SIGKILL mid-stream", async () => {
    const dbPath = tempDbPath();
    const first = await startSidecar({ dbPath });
    const ids = await createSessions(first.client(), "kill");
    const stream = openUpdateStream(first.address);
    const writing = writeUntilEnd(stream, ids);
    await stream.waitForAcks(ACKS_BEFORE_STOP);
    expect((await first.stop("SIGKILL")).signal).toBe("SIGKILL");
    await writing;
    expect((await stream.ended).code).toBe(status.UNAVAILABLE);
    stream.close();

    const second = await startSidecar({ dbPath });
    const total = await expectAckedStored(second.client(), ackedSeqs(stream, ids));
    expect(total).toBe(stream.acks.length);
    expect(total).toBeGreaterThanOrEqual(ACKS_BEFORE_STOP);
    await second.stop();
  });

  it("on SIGTERM acks what it read, ends the stream with UNAVAILABLE, exits 0, and a replay completes the state", async () => {
    const dbPath = tempDbPath();
    const first = await startSidecar({ dbPath });
    const ids = await createSessions(first.client(), "term");
    const stream = openUpdateStream(first.address);
    const writing = writeUntilEnd(stream, ids);
    await stream.waitForAcks(ACKS_BEFORE_STOP);
    const exit = first.stop("SIGTERM");
    const sent = await writing;
    const end = await stream.ended;
    stream.close();
    expect({ code: end.code, reason: end.errorDetails.errorInfo?.reason }).toEqual({ code: status.UNAVAILABLE, reason: "SHUTTING_DOWN" });
    expect(end.details).toContain("reconnect and resend");
    expect(await exit).toEqual({ code: 0, signal: null });
    const acked = ackedSeqs(stream, ids);
    expect(first.logs.some((l) => l.msg === "draining update streams")).toBe(true);

    const second = await startSidecar({ dbPath });
    const client = second.client();
    expect(await expectAckedStored(client, acked)).toBe(stream.acks.length);

    // What a bridge does next: reconnect and resend everything not acked.
    const replay = openUpdateStream(second.address);
    for (const id of ids) for (let seq = acked.get(id)! + 1; seq <= sent.get(id)!; seq++) await replay.send(update(id, seq));
    replay.halfClose();
    expect((await replay.ended).code).toBe(status.OK);
    expect(replay.acks.every((a) => a.error === undefined)).toBe(true);
    replay.close();
    await expectAckedStored(client, sent);
    for (const id of ids) expect((await client.getSession({ conversationId: id })).session?.lastSeq).toBe(BigInt(sent.get(id)!));
    await second.stop();
  });
});
