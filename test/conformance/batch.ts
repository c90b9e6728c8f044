import { describe, expect, it } from "vitest";
import { Reason, SessionError } from "../../src/session/errors.js";
import { SessionStatus } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import type { Store, TenantUpdate, UpdateResult } from "../../src/store/store.js";
import { type ConformanceContext, createSession, getFull, resume, statusUpdate, TENANT, updateOf } from "./helpers.js";

const OTHER = "tenant-b";

/** The slots of a group as comparable values: applied flags, or the reason of a refusal. */
function outcomes(results: (UpdateResult | SessionError)[]): (boolean | string)[] {
  return results.map((r) => (r instanceof SessionError ? r.reason : r.applied));
}

function itemIds(store: Store, id: string, tenant = TENANT): Promise<string[]> {
  return getFull(store, id, tenant).then((s) => s.conversationHistory.map((i) => i.itemId));
}

function item(tenant: string, conversationId: string, init: Parameters<typeof updateOf>[1]): TenantUpdate {
  return { tenant, update: updateOf(conversationId, init) };
}

// updateMany is the group commit of StreamUpdates: one durable step for many
// updates, each judged as update() would judge it on its own.
export function batchTests(ctx: ConformanceContext): void {
  describe("updateMany", () => {
    it("applies updates of many sessions and tenants, with results in input order", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-a");
      await createSession(store, "call-b");
      await createSession(store, "call-a", {}, OTHER);
      const results = await store.updateMany([
        item(TENANT, "call-a", { seq: 1n, appendHistory: [{ itemId: "a1" }] }),
        item(OTHER, "call-a", { seq: 1n, appendHistory: [{ itemId: "other-a1" }], paths: ["caller"], session: { caller: "other" } }),
        item(TENANT, "call-b", { seq: 1n, appendHistory: [{ itemId: "b1" }], appendAudio: [{ data: new Uint8Array([7, 8]) }] }),
        item(TENANT, "call-a", { seq: 2n, appendHistory: [{ itemId: "a2" }] }),
      ]);
      expect(outcomes(results)).toEqual([true, true, true, true]);
      const sessions = results.map((r) => (r as UpdateResult).session);
      expect(sessions.map((s) => [s.conversationId, s.lastSeq])).toEqual([
        ["call-a", 1n],
        ["call-a", 1n],
        ["call-b", 1n],
        ["call-a", 2n],
      ]);
      expect(sessions[1]?.caller).toBe("other");
      expect(sessions[3]?.conversationHistory).toEqual([]);

      expect(await itemIds(store, "call-a")).toEqual(["a1", "a2"]);
      expect(await itemIds(store, "call-a", OTHER)).toEqual(["other-a1"]);
      const b = await getFull(store, "call-b");
      expect(b.conversationHistory.map((i) => i.itemId)).toEqual(["b1"]);
      expect(b.audioBuffer.map((c) => [...c.data])).toEqual([[7, 8]]);
      expect((await getFull(store, "call-a")).caller).not.toBe("other");
      expect((await getFull(store, "call-a")).etag).toBe(sessions[3]?.etag);
    });

    it("applies one session's updates in input order, each seeing the ones before it", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      const results = await store.updateMany([
        { tenant: TENANT, update: statusUpdate("call-1", SessionStatus.ACTIVE) },
        item(TENANT, "call-1", { seq: 2n, appendHistory: [{ itemId: "second" }] }),
        // Seen as a duplicate only because the update before it set last_seq to 2.
        item(TENANT, "call-1", { seq: 1n, appendHistory: [{ itemId: "late" }] }),
        // ACTIVE -> PAUSED is allowed only because the first update made it ACTIVE.
        { tenant: TENANT, update: statusUpdate("call-1", SessionStatus.PAUSED) },
        item(TENANT, "call-1", { seq: 3n, appendHistory: [{ itemId: "third" }] }),
      ]);
      expect(outcomes(results)).toEqual([true, true, false, true, true]);
      const etags = results.map((r) => (r as UpdateResult).session.etag);
      expect(etags[2]).toBe(etags[1]);
      expect(new Set([etags[0], etags[1], etags[3], etags[4]]).size).toBe(4);
      const stored = await getFull(store, "call-1");
      expect(stored.conversationHistory.map((i) => i.itemId)).toEqual(["second", "third"]);
      expect(stored.status).toBe(SessionStatus.PAUSED);
      expect(stored.lastSeq).toBe(3n);
    });

    it("applies the same seq once when a group repeats an update", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      const update = item(TENANT, "call-1", { seq: 1n, appendHistory: [{ itemId: "once" }], appendAudio: [{ data: new Uint8Array([1]) }] });
      expect(outcomes(await store.updateMany([update, update]))).toEqual([true, false]);
      expect(outcomes(await store.updateMany([update]))).toEqual([false]);
      const stored = await getFull(store, "call-1");
      expect(stored.conversationHistory).toHaveLength(1);
      expect(stored.audioBuffer).toHaveLength(1);
    });

    it("refuses what update() refuses, slot by slot, and the rest of the group goes on", async () => {
      const { store } = await ctx.open();
      const etagSession = await createSession(store, "etag");
      await createSession(store, "fenced");
      const owner = await resume(store, "fenced", "bridge-a");
      await resume(store, "fenced", "bridge-b");
      await createSession(store, "ended");
      await store.end(TENANT, { conversationId: "ended", reason: "hangup", ownerEpoch: 0n, etag: "" });
      await createSession(store, "ok");
      const before = await Promise.all(["etag", "fenced", "ended"].map((id) => getFull(store, id)));

      const results = await store.updateMany([
        item(TENANT, "ok", { seq: 1n, appendHistory: [{ itemId: "ok-1" }] }),
        item(TENANT, "fenced", { ownerEpoch: owner.session.ownerEpoch, appendHistory: [{ itemId: "stale" }] }),
        item(TENANT, "ok", { seq: 2n, appendHistory: [{ itemId: "ok-2" }] }),
        item(TENANT, "ended", { appendHistory: [{ itemId: "after-end" }] }),
        item(TENANT, "etag", { etag: `${etagSession.etag}-old`, paths: ["caller"], session: { caller: "mallory" } }),
        item(TENANT, "missing", { appendHistory: [{ itemId: "x" }] }),
        { tenant: TENANT, update: statusUpdate("etag", SessionStatus.ENDED) },
        item(TENANT, "ok", { seq: 3n, appendHistory: [{ itemId: "ok-3" }] }),
      ]);

      expect(outcomes(results)).toEqual([
        true,
        Reason.SessionFenced,
        true,
        Reason.SessionEnded,
        Reason.EtagMismatch,
        Reason.SessionNotFound,
        Reason.InvalidTransition,
        true,
      ]);
      expect((results[1] as SessionError).metadata.owner_epoch).toBe(String(owner.session.ownerEpoch + 1n));
      expect(await Promise.all(["etag", "fenced", "ended"].map((id) => getFull(store, id)))).toEqual(before);
      expect(await itemIds(store, "ok")).toEqual(["ok-1", "ok-2", "ok-3"]);
    });

    it("lets a session's later update apply after its own refused one", async () => {
      const { store } = await ctx.open();
      const created = await createSession(store, "call-1");
      await createSession(store, "call-2");
      const results = await store.updateMany([
        item(TENANT, "call-1", { etag: created.etag, appendHistory: [{ itemId: "first" }] }),
        // The first update changed the etag, so this precondition no longer holds.
        item(TENANT, "call-1", { etag: created.etag, appendHistory: [{ itemId: "refused" }] }),
        item(TENANT, "call-2", { appendHistory: [{ itemId: "other" }] }),
        item(TENANT, "call-1", { appendHistory: [{ itemId: "after" }] }),
      ]);
      expect(outcomes(results)).toEqual([true, Reason.EtagMismatch, true, true]);
      expect(await itemIds(store, "call-1")).toEqual(["first", "after"]);
      expect(await itemIds(store, "call-2")).toEqual(["other"]);
    });

    it("keeps tenants apart inside one group", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      const results = await store.updateMany([
        item(OTHER, "call-1", { appendHistory: [{ itemId: "intruder" }] }),
        item(TENANT, "call-1", { appendHistory: [{ itemId: "owner" }] }),
      ]);
      expect(outcomes(results)).toEqual([Reason.SessionNotFound, true]);
      expect(await itemIds(store, "call-1")).toEqual(["owner"]);
    });

    it("resolves an empty group with no results", async () => {
      const { store } = await ctx.open();
      expect(await store.updateMany([])).toEqual([]);
    });
  });
}
