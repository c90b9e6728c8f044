import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/runtime/clock.js";
import { SessionSchema, SessionUpdateSchema, SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { defaultRules } from "../../src/session/rules.js";
import { migrate } from "../../src/store/sqlite/migrations.js";
import { prepareStatements } from "../../src/store/sqlite/sql.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";

const T = "default";
const CHUNK = 1000;
// History beyond the default limit: what is measured here is the store at scale, not the limit.
const rules = { ...defaultRules, audioBufferMaxBytes: 32 * CHUNK, maxHistoryBytes: 64 * 1024 * 1024 };
let dir = "";
let store: SqliteStore | undefined;

afterEach(async () => {
  await store?.close();
  store = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function openStore(): Promise<SqliteStore> {
  dir = mkdtempSync(join(tmpdir(), "sessionstore-scale-"));
  store = await SqliteStore.open({ path: join(dir, "sessions.db"), rules, clock: new ManualClock() });
  return store;
}

function chunk(fill: number) {
  return { data: new Uint8Array(CHUNK).fill(fill % 256) };
}

/** Mean milliseconds of `count` one-item updates (history, a function call and an audio chunk each) to `id`. */
describe("SqliteStore with large sessions", () => {
  it("appends 5000 history items and overflows the audio ring, and reads back in order", async () => {
    const s = await openStore();
    await s.create(T, create(SessionSchema, { conversationId: "big" }), "bridge-1");
    for (let batch = 0; batch < 50; batch++) {
      const result = await s.update(T, create(SessionUpdateSchema, {
        conversationId: "big",
        seq: BigInt(batch + 1),
        appendHistory: Array.from({ length: 100 }, (_, i) => ({ itemId: `h-${batch * 100 + i}`, role: "user", type: "message", text: `turn ${batch}` })),
        appendAudio: [chunk(2 * batch), chunk(2 * batch + 1)],
      }));
      expect(result.applied).toBe(true);
    }
    const full = await s.get(T, "big", SessionView.FULL);
    expect(full.conversationHistory).toHaveLength(5000);
    expect(full.conversationHistory.map((h) => h.itemId)).toEqual(Array.from({ length: 5000 }, (_, i) => `h-${i}`));
    // 100 chunks of 1000 bytes through a 32000-byte ring: the newest 32 remain.
    expect(full.audioBuffer.map((a) => a.seq)).toEqual(Array.from({ length: 32 }, (_, i) => BigInt(69 + i)));
    expect(full.audioBuffer.map((a) => a.data[0])).toEqual(Array.from({ length: 32 }, (_, i) => 68 + i));
    expect(full.lastSeq).toBe(50n);

    const basic = await s.get(T, "big", SessionView.BASIC);
    expect(basic.conversationHistory).toEqual([]);
    expect(basic.audioBuffer).toEqual([]);
  });

  // Its cost against a fresh session is measured in bench/update-cost.ts, not asserted here.
  it("keeps updating a session with 10k history items and a full audio ring correctly", async () => {
    const s = await openStore();
    await s.create(T, create(SessionSchema, { conversationId: "big" }), "bridge-1");
    for (let batch = 0; batch < 20; batch++) {
      await s.update(T, create(SessionUpdateSchema, {
        conversationId: "big",
        appendHistory: Array.from({ length: 500 }, (_, i) => ({ itemId: `h-${batch}-${i}`, text: "x".repeat(100) })),
        appendAudio: Array.from({ length: 4 }, (_, i) => chunk(i)),
      }));
    }
    const { session } = await s.update(T, create(SessionUpdateSchema, {
      conversationId: "big",
      seq: 7n,
      appendHistory: [{ itemId: "last" }],
      upsertFunctionCalls: [{ callId: "c-1", functionName: "f" }],
      appendAudio: [chunk(9)],
    }));
    expect(session.lastSeq).toBe(7n);
    const full = await s.get(T, "big", SessionView.FULL);
    expect(full.conversationHistory).toHaveLength(10_001);
    expect(full.conversationHistory.at(-1)?.itemId).toBe("last");
    expect(full.audioBuffer.reduce((n, c) => n + c.data.length, 0)).toBeLessThanOrEqual(rules.audioBufferMaxBytes);
    expect(full.audioBuffer.at(-1)?.seq).toBe(81n);
  });

  it("serves every statement from an index, never a table scan", () => {
    const db = new Database(":memory:");
    migrate(db, ":memory:");
    for (const [name, statement] of Object.entries(prepareStatements(db))) {
      const source = statement.source;
      const named = [...source.matchAll(/@(\w+)/g)].map((m) => m[1] ?? "");
      const explain = db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${source}`);
      const plan = named.length > 0
        ? explain.all(Object.fromEntries(named.map((n) => [n, 0])))
        : explain.all(...Array<number>((source.match(/\?/g) ?? []).length).fill(0));
      for (const { detail } of plan) expect(detail, name).not.toMatch(/^SCAN (sessions|history|function_calls|audio|counters)\b/);
    }
    db.close();
  });
});
