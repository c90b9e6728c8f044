import { describe, expect, it } from "vitest";
import { SessionStatus } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { Reason } from "../../src/session/errors.js";
import {
  bytes,
  type ConformanceContext,
  createSession,
  expectReason,
  getFull,
  HOUR_MS,
  resume,
  statusUpdate,
  TENANT,
  updateOf,
} from "./helpers.js";

/** importSession and tenants: what `sessionstore export | sessionstore import` moves between any two backends. */
export function importTests(ctx: ConformanceContext): void {
  describe("import", () => {
    it("stores a session exactly as another store holds it, and it goes on from there", async () => {
      const source = await ctx.open();
      await createSession(source.store, "moved", {
        bridgeType: "audiocodes",
        conversationHistory: [{ itemId: "i1", role: "user", text: "hello", data: { fields: { k: { kind: { case: "stringValue", value: "v" } } } } }],
        functionCalls: [{ callId: "c1", functionName: "lookup", arguments: "{}" }],
        audioBuffer: [{ data: bytes(100, 1) }, { data: bytes(50, 2) }],
        metadata: { fields: { plan: { kind: { case: "numberValue", value: 3 } } } },
      });
      source.clock.advance(1000);
      await resume(source.store, "moved");
      await source.store.update(TENANT, updateOf("moved", { ownerEpoch: 2n, seq: 7n, appendHistory: [{ itemId: "i2", text: "again" }], appendAudio: [{ data: bytes(10, 3) }] }));
      await createSession(source.store, "other-tenant", {}, "acme");
      const exported = await getFull(source.store, "moved");

      const target = await ctx.open();
      target.clock.set(source.clock.now());
      expect(await target.store.importSession(TENANT, exported, false)).toEqual({ replaced: false });
      expect(await getFull(target.store, "moved")).toEqual(exported);
      expect(await target.store.tenants()).toEqual([TENANT]);
      expect(await source.store.tenants()).toEqual(["acme", TENANT]);

      // The etag, the epoch, seq and the audio numbering all carry on from the exported values.
      await expectReason(target.store.update(TENANT, updateOf("moved", { ownerEpoch: 1n, appendHistory: [{ text: "fenced" }] })), Reason.SessionFenced);
      const duplicate = await target.store.update(TENANT, updateOf("moved", { ownerEpoch: 2n, seq: 7n, appendHistory: [{ text: "again" }] }));
      expect(duplicate.applied).toBe(false);
      const next = await target.store.update(TENANT, updateOf("moved", { ownerEpoch: 2n, seq: 8n, etag: exported.etag, appendAudio: [{ data: bytes(5, 4) }] }));
      expect(next.applied).toBe(true);
      expect(next.session.etag).not.toBe(exported.etag);
      expect((await getFull(target.store, "moved")).audioBuffer.map((c) => c.seq)).toEqual([1n, 2n, 3n, 4n]);
      expect((await resume(target.store, "moved")).session.ownerEpoch).toBe(3n);
    });

    it("refuses an id already stored with SESSION_EXISTS, and replaces it, children and all, when asked", async () => {
      const h = await ctx.open();
      await createSession(h.store, "taken", { conversationHistory: [{ itemId: "old" }], audioBuffer: [{ data: bytes(20, 9) }] });
      const other = await ctx.open();
      other.clock.set(h.clock.now());
      await createSession(other.store, "taken", { conversationHistory: [{ itemId: "new" }] });
      const incoming = await getFull(other.store, "taken");

      await expectReason(h.store.importSession(TENANT, incoming, false), Reason.SessionExists);
      expect((await getFull(h.store, "taken")).conversationHistory.map((i) => i.itemId)).toEqual(["old"]);
      expect(await h.store.importSession(TENANT, incoming, true)).toEqual({ replaced: true });
      expect(await getFull(h.store, "taken")).toEqual(incoming);
    });

    it("counts an imported live session against max_sessions and an ended one not at all", async () => {
      const source = await ctx.open();
      await createSession(source.store, "ended");
      await source.store.update(TENANT, statusUpdate("ended", SessionStatus.ACTIVE));
      await source.store.end(TENANT, { conversationId: "ended", reason: "hangup", ownerEpoch: 0n, etag: "" });
      await createSession(source.store, "live-1");
      await createSession(source.store, "live-2");

      const target = await ctx.open({ maxSessions: 1 });
      target.clock.set(source.clock.now());
      await target.store.importSession(TENANT, await getFull(source.store, "ended"), false);
      await target.store.importSession(TENANT, await getFull(source.store, "live-1"), false);
      await expectReason(target.store.importSession(TENANT, await getFull(source.store, "live-2"), false), Reason.MaxSessions);
      expect((await getFull(target.store, "ended")).endReason).toBe("hangup");
      await expectReason(createSession(target.store, "new"), Reason.MaxSessions);
      await expectReason(getFull(target.store, "live-2"), Reason.SessionNotFound);
    });

    it("refuses what no store could have written, and a session that has expired, storing nothing", async () => {
      const source = await ctx.open();
      const session = await createSession(source.store, "odd");
      const target = await ctx.open();
      target.clock.set(source.clock.now());
      for (const bad of [{ ...session, etag: "" }, { ...session, status: 0 }, { ...session, conversationId: "has space" }, { ...session, lastActivity: undefined }]) {
        const err = await expectReason(target.store.importSession(TENANT, bad, false), Reason.InvalidArgument);
        expect(err.violations.length).toBeGreaterThan(0);
      }
      target.clock.advance(25 * HOUR_MS);
      const expired = await expectReason(target.store.importSession(TENANT, session, false), Reason.InvalidArgument);
      expect(expired.message).toContain("expired");
      expect(await target.store.tenants()).toEqual([]);
    });

    it("keeps an imported session's history editable by item_id and its pause counted for the grace", async () => {
      const source = await ctx.open();
      await createSession(source.store, "edited", { conversationHistory: [{ itemId: "u1", role: "user", text: "hel" }] });
      await createSession(source.store, "paused-call");
      await source.store.update(TENANT, statusUpdate("paused-call", SessionStatus.ACTIVE));
      await source.store.update(TENANT, statusUpdate("paused-call", SessionStatus.PAUSED));

      const target = await ctx.open({ pauseGraceMs: 60_000 });
      target.clock.set(source.clock.now());
      for (const id of ["edited", "paused-call"]) await target.store.importSession(TENANT, await getFull(source.store, id), false);
      target.clock.advance(60_001);
      expect(await target.store.endAbandoned({ batchSize: 100 })).toBe(1);
      expect(await getFull(target.store, "paused-call")).toMatchObject({ status: SessionStatus.ENDED, endReason: "abandoned" });

      await target.store.update(TENANT, updateOf("edited", { editHistory: [{ itemId: "u1", updateMask: { paths: ["text"] }, text: "hello" }] }));
      expect((await getFull(target.store, "edited")).conversationHistory.map((i) => i.text)).toEqual(["hello"]);
    });
  });
}
