import { describe, expect, it } from "vitest";
import { Reason } from "../../src/session/errors.js";
import type { Session } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { bytes, type ConformanceContext, createSession, expectReason, getFull, resume, TENANT, updateOf } from "./helpers.js";

/** 100 ms of 16 kHz 16-bit mono PCM. */
const CHUNK = 3200;
const CAP = 10_000;

/** Asserts the ring holds exactly the chunks with these seqs, each still filled with its own seq. */
function expectRing(session: Session, seqs: number[]): void {
  expect(session.audioBuffer.map((c) => Number(c.seq))).toEqual(seqs);
  for (const chunk of session.audioBuffer) {
    expect(Buffer.from(chunk.data).equals(Buffer.from(bytes(CHUNK, Number(chunk.seq))))).toBe(true);
  }
}

export function audioTests(ctx: ConformanceContext): void {
  describe("audio ring", () => {
    it("keeps only the newest chunks that fit, numbered contiguously", async () => {
      const { store } = await ctx.open({ audioBufferMaxBytes: CAP });
      await createSession(store, "call-1");
      for (let seq = 1; seq <= 12; seq++) {
        await store.update(TENANT, updateOf("call-1", { appendAudio: [{ data: bytes(CHUNK, seq) }] }));
      }
      expectRing(await getFull(store, "call-1"), [10, 11, 12]);
    });

    it("trims a batch larger than the cap to its newest chunks", async () => {
      const { store } = await ctx.open({ audioBufferMaxBytes: CAP });
      await createSession(store, "call-1", { audioBuffer: [{ data: bytes(CHUNK, 1) }] });
      await store.update(TENANT, updateOf("call-1", { appendAudio: [2, 3, 4, 5].map((n) => ({ data: bytes(CHUNK, n) })) }));
      expectRing(await getFull(store, "call-1"), [3, 4, 5]);
    });

    it("caps the audio a session is created with", async () => {
      const { store } = await ctx.open({ audioBufferMaxBytes: CAP });
      await createSession(store, "call-1", { audioBuffer: [1, 2, 3, 4].map((n) => ({ data: bytes(CHUNK, n) })) });
      expectRing(await getFull(store, "call-1"), [2, 3, 4]);
    });

    it("refuses a single chunk larger than the cap, changing nothing", async () => {
      const { store } = await ctx.open({ audioBufferMaxBytes: CAP });
      await createSession(store, "call-1", { audioBuffer: [{ data: bytes(CHUNK, 1) }] });
      const before = await getFull(store, "call-1");
      await expectReason(
        store.update(TENANT, updateOf("call-1", { appendAudio: [{ data: bytes(CHUNK, 2) }, { data: bytes(CAP + 1, 3) }], appendHistory: [{ itemId: "x" }] })),
        Reason.InvalidArgument,
      );
      expect(await getFull(store, "call-1")).toEqual(before);
      await store.update(TENANT, updateOf("call-1", { appendAudio: [{ data: bytes(CHUNK, 2) }] }));
      expectRing(await getFull(store, "call-1"), [1, 2]);
    });

    it("refuses to create a session with an oversized chunk", async () => {
      const { store } = await ctx.open({ audioBufferMaxBytes: CAP });
      await expectReason(createSession(store, "call-1", { audioBuffer: [{ data: bytes(CAP + 1, 1) }] }), Reason.InvalidArgument);
      await expectReason(getFull(store, "call-1"), Reason.SessionNotFound);
    });

    it("accepts a chunk of exactly the cap, which then fills the ring alone", async () => {
      const { store } = await ctx.open({ audioBufferMaxBytes: CAP });
      await createSession(store, "call-1", { audioBuffer: [{ data: bytes(CHUNK, 1) }] });
      await store.update(TENANT, updateOf("call-1", { appendAudio: [{ data: bytes(CAP, 9) }] }));
      const ring = (await getFull(store, "call-1")).audioBuffer;
      expect(ring.map((c) => [Number(c.seq), c.data.length])).toEqual([[2, CAP]]);
    });

    it("keeps numbering after the ring has been trimmed and across resumes", async () => {
      const { store } = await ctx.open({ audioBufferMaxBytes: CAP });
      await createSession(store, "call-1");
      await store.update(TENANT, updateOf("call-1", { appendAudio: [1, 2, 3, 4, 5].map((n) => ({ data: bytes(CHUNK, n) })) }));
      await resume(store, "call-1");
      await store.update(TENANT, updateOf("call-1", { ownerEpoch: 2n, appendAudio: [{ data: bytes(CHUNK, 6) }] }));
      expectRing(await getFull(store, "call-1"), [4, 5, 6]);
    });

    it("stores bytes byte for byte, independent of the caller's buffer", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      const data = Uint8Array.from({ length: 4096 }, (_, i) => (i * 31 + 7) % 256);
      const expected = Buffer.from(data);
      await store.update(TENANT, updateOf("call-1", { appendAudio: [{ data }] }));
      data.fill(0);
      const stored = (await getFull(store, "call-1")).audioBuffer[0]!.data;
      expect(Buffer.from(stored).equals(expected)).toBe(true);
    });
  });
}
