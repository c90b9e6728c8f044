import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/runtime/clock.js";
import { SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { Reason, SessionError } from "../../src/session/errors.js";
import { defaultRules, type SessionRules } from "../../src/session/rules.js";
import { RedisStore } from "../../src/store/redis/redis-store.js";
import type { UpdateResult } from "../../src/store/store.js";
import { bytes, createSession, getFull, TENANT, updateOf } from "../conformance/helpers.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";

// What the conformance suite cannot show with one store: two sidecars (two
// stores, two connections) writing the same sessions at once, and the keys
// the Redis backend leaves behind.
describe("Redis store, beyond the conformance suite", () => {
  let server: RedisServer;
  let raw: Redis;
  const stores: RedisStore[] = [];
  let prefixes = 0;

  /** Two stores on one fresh key prefix, as the sidecars of two pods. */
  async function twoSidecars(rules: Partial<SessionRules> = {}): Promise<{ a: RedisStore; b: RedisStore; prefix: string }> {
    const prefix = `races-${++prefixes}:`;
    const clock = new ManualClock();
    const open = () => RedisStore.connect({ url: server.url, keyPrefix: prefix, connectTimeoutMs: 5000, rules: { ...defaultRules, ...rules }, clock });
    const [a, b] = await Promise.all([open(), open()]);
    stores.push(a, b);
    return { a, b, prefix };
  }

  beforeAll(async () => {
    server = await startRedisServer();
    raw = new Redis(server.url);
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    raw?.disconnect();
    await server?.stop();
  });

  it("loses no write when both append to one session at once", async () => {
    const { a, b } = await twoSidecars();
    await createSession(a, "call-1");
    const writes = Array.from({ length: 60 }, (_, i) =>
      (i % 2 === 0 ? a : b).update(TENANT, updateOf("call-1", { appendHistory: [{ itemId: `i${i}` }], appendAudio: [{ data: bytes(10, i) }] })),
    );
    const results = await Promise.all(writes);
    expect(new Set(results.map((r) => r.session.etag)).size).toBe(60);
    const stored = await getFull(b, "call-1");
    expect(stored.conversationHistory.map((h) => h.itemId).sort()).toEqual(Array.from({ length: 60 }, (_, i) => `i${i}`).sort());
    expect(stored.audioBuffer.map((c) => Number(c.seq))).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });

  it("creates a session once when both create it at once", async () => {
    const { a, b } = await twoSidecars();
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => createSession(i % 2 === 0 ? a : b, "call-1")));
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    for (const o of outcomes) if (o.status === "rejected") expect((o.reason as SessionError).reason).toBe(Reason.SessionExists);
    expect((await a.stats(TENANT)).activeSessions).toBe(1);
  });

  it("commits each group's updates of one session together, in order", async () => {
    const { a, b } = await twoSidecars();
    await createSession(a, "x");
    await createSession(a, "y");
    const group = (store: RedisStore, name: string) =>
      store.updateMany(["x", "y", "x", "y", "x"].map((id, i) => ({ tenant: TENANT, update: updateOf(id, { appendHistory: [{ itemId: `${name}${i}` }] }) })));
    const [fromA, fromB] = await Promise.all([group(a, "a"), group(b, "b")]);
    for (const r of [...fromA, ...fromB]) expect((r as UpdateResult).applied).toBe(true);
    const x = (await getFull(a, "x")).conversationHistory.map((h) => h.itemId);
    expect([["a0", "a2", "a4", "b0", "b2", "b4"].join(), ["b0", "b2", "b4", "a0", "a2", "a4"].join()]).toContain(x.join());
  });

  it("trims the ring when a big chunk pushes out more stored chunks than were read ahead", async () => {
    const { a } = await twoSidecars({ audioBufferMaxBytes: 2000 });
    await createSession(a, "call-1", { audioBuffer: Array.from({ length: 20 }, (_, i) => ({ data: bytes(100, i) })) });
    await a.update(TENANT, updateOf("call-1", { appendAudio: [{ data: bytes(2000, 7) }] }));
    expect((await getFull(a, "call-1")).audioBuffer.map((c) => [Number(c.seq), c.data.length])).toEqual([[21, 2000]]);
    await a.update(TENANT, updateOf("call-1", { appendAudio: [{ data: bytes(100, 8) }] }));
    expect((await getFull(a, "call-1")).audioBuffer.map((c) => [Number(c.seq), c.data.length])).toEqual([[22, 100]]);
  });

  it("leaves no key behind for a deleted or swept session", async () => {
    const { a, prefix } = await twoSidecars();
    await createSession(a, "deleted", { conversationHistory: [{ itemId: "h" }], functionCalls: [{ callId: "c" }], audioBuffer: [{ data: bytes(10, 1) }] });
    await createSession(a, "swept", { conversationHistory: [{ itemId: "h" }], functionCalls: [{ callId: "c" }], audioBuffer: [{ data: bytes(10, 1) }] });
    expect((await raw.keys(`${prefix}session:*`)).length).toBe(14);
    await a.delete(TENANT, "deleted", "");
    expect(await a.cleanup({ tenant: undefined, cutoff: new Date(8.64e15), dryRun: false, batchSize: 1 })).toBe(1);
    expect(await raw.keys(`${prefix}session:*`)).toEqual([]);
    expect(await raw.zcard(`${prefix}tenant:{${TENANT}}:ids`)).toBe(0);
    expect(await raw.zcard(`${prefix}tenant:{${TENANT}}:activity`)).toBe(0);
    expect(await raw.zcard(`${prefix}global:{global}:live`)).toBe(0);
  });

  it("counts history bytes written by two sidecars, each with its own cache of heads, and refuses past the limit from either", async () => {
    // Ids of one length, so every item is the same size.
    const item = (id: string) => ({ itemId: id, text: "t".repeat(100) });
    const { a: probe } = await twoSidecars();
    await createSession(probe, "probe", { conversationHistory: [item("x0")] });
    const size = Number((await getFull(probe, "probe")).historyBytes);
    const { a, b } = await twoSidecars({ maxHistoryBytes: 4 * size });
    await createSession(a, "call-1");
    await a.update(TENANT, updateOf("call-1", { appendHistory: [item("a1")] }));
    await b.update(TENANT, updateOf("call-1", { appendHistory: [item("b1")] }));
    // a's cached head is now stale: the commit must see b's bytes, not its own count.
    await a.update(TENANT, updateOf("call-1", { appendHistory: [item("a2")] }));
    const results = await Promise.all([a, b].map((store, i) => store.update(TENANT, updateOf("call-1", { appendHistory: [item(`r${i}`)] })).catch((err: unknown) => err)));
    expect(results.filter((r) => r instanceof SessionError).map((r) => (r as SessionError).reason)).toEqual([Reason.LimitExceeded]);
    const full = await getFull(b, "call-1");
    expect([full.conversationHistory.length, full.historyBytes]).toEqual([4, BigInt(4 * size)]);
  });

  it("stores and reads back a session far larger than one Lua call's arguments", async () => {
    // Writes larger than the default limits allow: the script's argument batching is under test.
    const { a } = await twoSidecars({ maxItemsPerUpdate: 20_000 });
    const history = Array.from({ length: 12_000 }, (_, i) => ({ itemId: `h${i}` }));
    await createSession(a, "long-call", { conversationHistory: history });
    await a.update(TENANT, updateOf("long-call", { appendHistory: history.slice(0, 9_000) }));
    const stored = await getFull(a, "long-call");
    expect(stored.conversationHistory).toHaveLength(21_000);
    expect(stored.conversationHistory.at(-1)?.itemId).toBe("h8999");
  });

  it("keeps deployments with different key prefixes apart on one Redis", async () => {
    const first = await twoSidecars();
    const second = await twoSidecars();
    await createSession(first.a, "call-1", { botName: "first" });
    await createSession(second.a, "call-1", { botName: "second" });
    expect((await first.b.get(TENANT, "call-1", SessionView.BASIC)).botName).toBe("first");
    expect((await second.b.get(TENANT, "call-1", SessionView.BASIC)).botName).toBe("second");
  });
});
