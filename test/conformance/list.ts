import { describe, expect, it } from "vitest";
import { SessionStatus, SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import type { ListQuery, Store } from "../../src/store/store.js";
import { type ConformanceContext, createSession, liveStatuses, statusUpdate, TENANT } from "./helpers.js";

function query(init: Partial<ListQuery> = {}): ListQuery {
  return { pageSize: 100, after: "", statuses: [], bridgeType: "", view: SessionView.UNSPECIFIED, ...init };
}

async function listIds(store: Store, init: Partial<ListQuery> = {}): Promise<string[]> {
  return (await store.list(TENANT, query(init))).sessions.map((s) => s.conversationId);
}

/** Three sessions in three states: "active", "ended" and "paused". */
async function threeStates(store: Store): Promise<void> {
  await createSession(store, "paused", { bridgeType: "twilio" });
  await createSession(store, "ended");
  await createSession(store, "active");
  await store.update(TENANT, statusUpdate("paused", SessionStatus.PAUSED));
  await store.update(TENANT, statusUpdate("active", SessionStatus.ACTIVE));
  await store.end(TENANT, { conversationId: "ended", reason: "", ownerEpoch: 0n, etag: "" });
}

export function listTests(ctx: ConformanceContext): void {
  describe("list", () => {
    it("leaves ENDED sessions out unless asked for them", async () => {
      const { store } = await ctx.open();
      await threeStates(store);
      expect(await listIds(store)).toEqual(["active", "paused"]);
      expect(await listIds(store, { statuses: [SessionStatus.ENDED] })).toEqual(["ended"]);
      expect(await listIds(store, { statuses: [SessionStatus.ENDED, SessionStatus.PAUSED] })).toEqual(["ended", "paused"]);
      expect(await listIds(store, { statuses: [SessionStatus.ERROR] })).toEqual([]);
      expect(await listIds(store, { statuses: [...liveStatuses, SessionStatus.ENDED] })).toEqual(["active", "ended", "paused"]);
    });

    it("filters by bridge type", async () => {
      const { store } = await ctx.open();
      await threeStates(store);
      expect(await listIds(store, { bridgeType: "twilio" })).toEqual(["paused"]);
      expect(await listIds(store, { bridgeType: "audiocodes" })).toEqual(["active"]);
      expect(await listIds(store, { bridgeType: "vonage" })).toEqual([]);
    });

    it("pages through every session once, in order", async () => {
      const { store } = await ctx.open();
      const ids = Array.from({ length: 25 }, (_, i) => `call-${String((i * 7) % 25).padStart(2, "0")}`);
      for (const id of ids) await createSession(store, id);
      const seen: string[] = [];
      const mores: boolean[] = [];
      let after = "";
      for (let page = 0; page < 10; page++) {
        const { sessions, more } = await store.list(TENANT, query({ pageSize: 10, after }));
        seen.push(...sessions.map((s) => s.conversationId));
        mores.push(more);
        if (!more) break;
        after = sessions.at(-1)!.conversationId;
      }
      expect(seen).toEqual([...ids].sort());
      expect(mores).toEqual([true, true, false]);
    });

    it("does not skip or repeat when sessions are added between pages", async () => {
      const { store } = await ctx.open();
      for (const id of ["b", "d", "f", "h"]) await createSession(store, id);
      const first = await store.list(TENANT, query({ pageSize: 2 }));
      await createSession(store, "a");
      await createSession(store, "e");
      const second = await store.list(TENANT, query({ pageSize: 10, after: first.sessions.at(-1)!.conversationId }));
      expect(first.sessions.map((s) => s.conversationId)).toEqual(["b", "d"]);
      expect(second.sessions.map((s) => s.conversationId)).toEqual(["e", "f", "h"]);
      expect(second.more).toBe(false);
    });

    it("says no more when the last page is exactly full", async () => {
      const { store } = await ctx.open();
      for (const id of ["a", "b"]) await createSession(store, id);
      expect(await store.list(TENANT, query({ pageSize: 2 }))).toMatchObject({ more: false });
      expect((await store.list(TENANT, query({ pageSize: 1 }))).more).toBe(true);
    });

    it("returns the BASIC view by default and FULL when asked", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", {
        conversationHistory: [{ itemId: "i1" }],
        functionCalls: [{ callId: "c1" }],
        audioBuffer: [{ data: new Uint8Array([1]) }],
      });
      const [basic] = (await store.list(TENANT, query())).sessions;
      expect(basic).toMatchObject({ conversationId: "call-1", botName: "bot" });
      expect([basic!.conversationHistory, basic!.functionCalls, basic!.audioBuffer]).toEqual([[], [], []]);
      const [full] = (await store.list(TENANT, query({ view: SessionView.FULL }))).sessions;
      expect([full!.conversationHistory.length, full!.functionCalls.length, full!.audioBuffer.length]).toEqual([1, 1, 1]);
    });
  });

  describe("stats", () => {
    it("counts sessions by status, resumed ones and live ones", async () => {
      const { store } = await ctx.open();
      await threeStates(store);
      await createSession(store, "resumed");
      await store.resume(TENANT, { conversationId: "resumed", ownerId: "b", createIfMissing: false, initial: undefined, view: SessionView.BASIC });
      const stats = await store.stats(TENANT);
      expect(stats).toMatchObject({ activeSessions: 3, totalSessions: 4, resumedSessions: 1, failedResumes: 0, cleanupCount: 0 });
      // A backend may list statuses with a zero count; only the non-zero ones are facts.
      expect(Object.fromEntries([...stats.byStatus].filter(([, n]) => n > 0))).toEqual({
        [SessionStatus.ACTIVE]: 2,
        [SessionStatus.PAUSED]: 1,
        [SessionStatus.ENDED]: 1,
      });
    });

    it("starts at zero for an empty store", async () => {
      const { store } = await ctx.open();
      const stats = await store.stats(TENANT);
      expect(stats).toMatchObject({ activeSessions: 0, totalSessions: 0, resumedSessions: 0, failedResumes: 0, cleanupCount: 0 });
      expect([...stats.byStatus.values()].every((n) => n === 0)).toBe(true);
    });
  });
}
