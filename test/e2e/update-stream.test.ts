import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionStoreClient, UpdateAck } from "../../src/client/index.js";
import { startSidecar, type Sidecar } from "../support/sidecar-process.js";
import { ackBadFields, ackReason, acksBySession, openUpdateStream, type RawUpdateStream } from "../support/update-stream-raw.js";

const ROUNDS = 12;

/** Update `round` of a session: one history item, one audio chunk and a field, so every kind of write is checked. */
function roundUpdate(conversationId: string, round: number) {
  return {
    conversationId,
    seq: BigInt(round),
    appendHistory: [{ itemId: `${conversationId}/h${round}`, role: "user", text: `turn ${round}` }],
    appendAudio: [{ data: new Uint8Array(320).fill(round) }],
    updateMask: { paths: ["current_turn"] },
    session: { currentTurn: round },
  };
}

/** Checks one session's acks (arrival order) and its stored state against ROUNDS round updates. */
async function expectComplete(client: SessionStoreClient, id: string, acks: UpdateAck[] | undefined): Promise<void> {
  expect(acks?.map((a) => [a.seq, a.applied, a.error === undefined])).toEqual(Array.from({ length: ROUNDS }, (_, i) => [BigInt(i + 1), true, true]));
  const { session } = await client.getSession({ conversationId: id });
  expect(session?.conversationHistory.map((h) => h.itemId)).toEqual(Array.from({ length: ROUNDS }, (_, i) => `${id}/h${i + 1}`));
  expect(session?.audioBuffer.map((c) => [c.data.length, c.data[0]])).toEqual(Array.from({ length: ROUNDS }, (_, i) => [320, i + 1]));
  expect(session?.lastSeq).toBe(BigInt(ROUNDS));
  expect(session?.currentTurn).toBe(ROUNDS);
  expect(session?.etag).toBe(acks?.at(-1)?.etag);
}

describe("StreamUpdates", () => {
  let sidecar: Sidecar;
  let client: SessionStoreClient;
  const streams: RawUpdateStream[] = [];
  const open = (): RawUpdateStream => {
    const stream = openUpdateStream(sidecar.address);
    streams.push(stream);
    return stream;
  };

  beforeAll(async () => {
    sidecar = await startSidecar();
    client = sidecar.client();
  });
  afterAll(async () => {
    streams.forEach((s) => s.close());
    await sidecar.stop();
  });

  it("carries 50 interleaved sessions on one stream: every ack, in order per session, and the stored state", async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `one-${i}`);
    for (const id of ids) await client.createSession({ session: { conversationId: id } });
    const stream = open();
    for (let round = 1; round <= ROUNDS; round++) for (const id of ids) await stream.send(roundUpdate(id, round));
    stream.halfClose();
    const end = await stream.ended;
    expect(end.code).toBe(status.OK);
    expect(stream.acks).toHaveLength(ids.length * ROUNDS);
    const bySession = acksBySession(stream.acks);
    for (const id of ids) await expectComplete(client, id, bySession.get(id));
  });

  it("carries 50 sessions over 4 concurrent streams", async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `four-${i}`);
    for (const id of ids) await client.createSession({ session: { conversationId: id } });
    const groups = [0, 1, 2, 3].map((g) => ids.filter((_, i) => i % 4 === g));
    const results = await Promise.all(
      groups.map(async (group) => {
        const stream = open();
        for (let round = 1; round <= ROUNDS; round++) for (const id of group) await stream.send(roundUpdate(id, round));
        stream.halfClose();
        return { end: await stream.ended, acks: stream.acks };
      }),
    );
    expect(results.map((r) => r.end.code)).toEqual([status.OK, status.OK, status.OK, status.OK]);
    const bySession = acksBySession(results.flatMap((r) => r.acks));
    for (const id of ids) await expectComplete(client, id, bySession.get(id));
  });

  it("applies each update once when a broken stream is replayed from the start on a new one", async () => {
    const N = 60;
    await client.createSession({ session: { conversationId: "replay-1" } });
    const update = (seq: number) => ({
      conversationId: "replay-1",
      seq: BigInt(seq),
      appendHistory: [{ itemId: `h${seq}` }],
      appendAudio: [{ data: new Uint8Array(3200).fill(seq) }],
    });
    const first = open();
    for (let seq = 1; seq <= N; seq++) await first.send(update(seq));
    await first.waitForAcks(1);
    first.cancel();
    expect((await first.ended).code).toBe(status.CANCELLED);
    const ackedBefore = new Set(first.acks.map((a) => a.seq));

    const second = open();
    for (let seq = 1; seq <= N; seq++) await second.send(update(seq));
    second.halfClose();
    expect((await second.ended).code).toBe(status.OK);
    expect(second.acks.map((a) => [a.seq, a.error])).toEqual(Array.from({ length: N }, (_, i) => [BigInt(i + 1), undefined]));
    for (const ack of second.acks) if (ackedBefore.has(ack.seq)) expect(ack.applied).toBe(false);
    // Once one resend is new, every later one is too: seqs are applied in order.
    const firstNew = second.acks.findIndex((a) => a.applied);
    if (firstNew >= 0) expect(second.acks.slice(firstNew).every((a) => a.applied)).toBe(true);

    const { session } = await client.getSession({ conversationId: "replay-1" });
    expect(session?.conversationHistory.map((h) => h.itemId)).toEqual(Array.from({ length: N }, (_, i) => `h${i + 1}`));
    expect(session?.audioBuffer.map((c) => c.data[0])).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(session?.lastSeq).toBe(BigInt(N));
  });

  it("answers fenced, ended and invalid updates with error acks while the stream goes on", async () => {
    await client.createSession({ session: { conversationId: "mix-ok" } });
    await client.createSession({ session: { conversationId: "mix-fenced" } });
    const stale = await client.resumeSession({ conversationId: "mix-fenced", ownerId: "bridge-a" });
    const current = await client.resumeSession({ conversationId: "mix-fenced", ownerId: "bridge-b" });
    await client.createSession({ session: { conversationId: "mix-ended" } });
    await client.endSession({ conversationId: "mix-ended", reason: "hangup" });

    const stream = open();
    await stream.send({ conversationId: "mix-ok", seq: 1n, appendHistory: [{ itemId: "ok-1" }] });
    await stream.send({ conversationId: "mix-fenced", ownerEpoch: stale.session!.ownerEpoch, appendHistory: [{ itemId: "late" }] });
    await stream.send({ conversationId: "mix-ok", seq: 2n, appendHistory: [{ itemId: "ok-2" }] });
    await stream.send({ conversationId: "mix-ended", appendHistory: [{ itemId: "after-end" }] });
    await stream.send({ conversationId: "bad id!", appendHistory: [{ itemId: "x" }] });
    await stream.send({ conversationId: "mix-ok", seq: 3n, appendHistory: [{ itemId: "ok-3" }] });
    await stream.send({ conversationId: "mix-fenced", ownerEpoch: current.session!.ownerEpoch, appendHistory: [{ itemId: "owner" }] });
    stream.halfClose();
    expect((await stream.ended).code).toBe(status.OK);

    const seen = stream.acks.map((a) => [a.conversationId, a.error?.code ?? status.OK, ackReason(a), a.applied]);
    expect(seen).toEqual([
      ["mix-ok", status.OK, undefined, true],
      ["mix-fenced", status.FAILED_PRECONDITION, "SESSION_FENCED", false],
      ["mix-ok", status.OK, undefined, true],
      ["mix-ended", status.FAILED_PRECONDITION, "SESSION_ENDED", false],
      ["bad id!", status.INVALID_ARGUMENT, "INVALID_ARGUMENT", false],
      ["mix-ok", status.OK, undefined, true],
      ["mix-fenced", status.OK, undefined, true],
    ]);
    expect(stream.acks[1]?.etag).toBe("");
    expect(stream.acks[1]?.error?.message).toContain("stop writing");
    expect(ackBadFields(stream.acks[4]!)).toEqual(["conversation_id"]);

    const ok = await client.getSession({ conversationId: "mix-ok" });
    expect(ok.session?.conversationHistory.map((h) => h.itemId)).toEqual(["ok-1", "ok-2", "ok-3"]);
    const fenced = await client.getSession({ conversationId: "mix-fenced" });
    expect(fenced.session?.conversationHistory.map((h) => h.itemId)).toEqual(["owner"]);
    const ended = await client.getSession({ conversationId: "mix-ended" });
    expect(ended.session?.conversationHistory).toEqual([]);
  });

  it("writes for the token's tenant, and ends a stream without valid credentials with UNAUTHENTICATED", async () => {
    const secured = await startSidecar({ env: { SESSIONSTORE_AUTH_TOKENS: "secret-0123456789abcdef=tenant-a" } });
    await secured.client({ token: "secret-0123456789abcdef" }).createSession({ session: { conversationId: "t-1" } });
    const good = openUpdateStream(secured.address, { token: "secret-0123456789abcdef" });
    const bad = openUpdateStream(secured.address, { token: "wrong" });
    await good.send({ conversationId: "t-1", ownerEpoch: 1n, seq: 1n });
    await bad.send({ conversationId: "t-1", seq: 1n });
    good.halfClose();
    const [goodEnd, badEnd] = await Promise.all([good.ended, bad.ended]);
    [good, bad].forEach((s) => s.close());
    await secured.stop();
    expect(goodEnd.code).toBe(status.OK);
    expect(good.acks.map((a) => [a.conversationId, a.applied])).toEqual([["t-1", true]]);
    expect({ code: badEnd.code, reason: badEnd.errorDetails.errorInfo?.reason, acks: bad.acks.length }).toEqual({
      code: status.UNAUTHENTICATED,
      reason: "UNAUTHENTICATED",
      acks: 0,
    });
  });
});
