import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/runtime/clock.js";
import { SessionSchema, SessionStatus, SessionUpdateSchema, SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { Reason, SessionError } from "../../src/session/errors.js";
import { defaultRules, type SessionRules } from "../../src/session/rules.js";
import { APPLICATION_ID, SCHEMA_VERSION } from "../../src/store/sqlite/migrations.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";

const T = "default";
const dirs: string[] = [];
const open: SqliteStore[] = [];

afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "sessionstore-sqlite-"));
  dirs.push(dir);
  return dir;
}

async function openStore(path: string, clock = new ManualClock(), rules: SessionRules = defaultRules): Promise<SqliteStore> {
  const store = await SqliteStore.open({ path, rules, clock });
  open.push(store);
  return store;
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Opening `path` fails with a message naming it and matching `problem`, and leaves its bytes as they were. */
async function expectRefused(path: string, problem: RegExp): Promise<void> {
  const before = sha256(path);
  let caught: unknown;
  try {
    await openStore(path);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(Error);
  expect(caught).not.toBeInstanceOf(SessionError);
  const message = (caught as Error).message;
  expect(message).toContain(path);
  expect(message).toMatch(problem);
  expect(sha256(path)).toBe(before);
}

/** A closed sessionstore database with enough rows to span many pages. */
async function filledDatabase(path: string): Promise<void> {
  const store = await SqliteStore.open({ path, rules: defaultRules, clock: new ManualClock() });
  for (let i = 0; i < 60; i++) {
    await store.create(T, create(SessionSchema, {
      conversationId: `call-${i}`,
      bridgeType: "twilio",
      conversationHistory: Array.from({ length: 20 }, (_, j) => ({ itemId: `i-${j}`, role: "user", type: "message", text: "x".repeat(200) })),
    }), "bridge-1");
  }
  await store.close();
}

describe("SqliteStore files", () => {
  it("keeps every field, child and counter across a reopen", async () => {
    const path = join(tempDir(), "nested", "dir", "sessions.db");
    const clock = new ManualClock();
    const rules = { ...defaultRules, audioBufferMaxBytes: 10 };
    let store = await openStore(path, clock, rules);
    await store.create(T, create(SessionSchema, {
      conversationId: "call-1", sessionId: "s-1", bridgeType: "audiocodes", botName: "bot", caller: "+15550100", mediaFormat: "raw/lpcm16",
      currentTurn: 3, openaiSessionId: "sess_1", openaiConversationId: "conv_1", activeResponseId: "resp_1", errorCount: 1, lastError: "oops",
      metadata: { lang: "en", nested: { list: [1, "two", true, null] } }, audioMetadata: { rate: 16000 },
      conversationHistory: [{ itemId: "h1", role: "user", type: "message", text: "hello", data: { k: "v" } }],
      functionCalls: [{ callId: "c1", functionName: "lookup", arguments: "{}", status: "pending" }],
      audioBuffer: [{ data: new Uint8Array([1, 2, 3, 4]) }],
    }), "bridge-1");
    clock.advance(1000);
    const resumed = await store.resume(T, { conversationId: "call-1", ownerId: "bridge-2", createIfMissing: false, initial: undefined, view: SessionView.BASIC });
    clock.advance(1000);
    await store.update(T, create(SessionUpdateSchema, {
      conversationId: "call-1", ownerEpoch: resumed.session.ownerEpoch, seq: 7n,
      updateMask: create(FieldMaskSchema, { paths: ["status", "current_turn"] }), session: { status: SessionStatus.PAUSED, currentTurn: 4 },
      appendHistory: [{ itemId: "h2", role: "assistant", type: "message", text: "hi" }],
      upsertFunctionCalls: [{ callId: "c2", functionName: "book" }, { callId: "c1", functionName: "lookup", status: "done", result: "{\"ok\":true}" }],
      appendAudio: [{ data: new Uint8Array([5, 6, 7, 8]) }, { data: new Uint8Array([9, 10, 11, 12]) }],
    }));
    await store.create(T, create(SessionSchema, { conversationId: "ended-1" }), "bridge-1");
    await store.end(T, { conversationId: "ended-1", reason: "hangup", ownerEpoch: 0n, etag: "" });
    await expect(store.resume(T, { conversationId: "ended-1", ownerId: "b", createIfMissing: false, initial: undefined, view: SessionView.BASIC })).rejects.toThrow();
    await store.create("other", create(SessionSchema, { conversationId: "old" }), "bridge-1");
    clock.advance(2000);
    expect(await store.cleanup({ tenant: "other", cutoff: new Date(clock.now().getTime() - 1000), dryRun: false, batchSize: 10 })).toBe(1);

    const before = await store.get(T, "call-1", SessionView.FULL);
    const beforeList = await store.list(T, { pageSize: 10, after: "", statuses: [], bridgeType: "", view: SessionView.FULL });
    const beforeStats = [await store.stats(T), await store.stats("other")];
    await store.close();

    store = await openStore(path, clock, rules);
    const after = await store.get(T, "call-1", SessionView.FULL);
    expect(after).toEqual(before);
    expect(await store.list(T, { pageSize: 10, after: "", statuses: [], bridgeType: "", view: SessionView.FULL })).toEqual(beforeList);
    expect([await store.stats(T), await store.stats("other")]).toEqual(beforeStats);

    expect(after).toMatchObject({ status: SessionStatus.PAUSED, currentTurn: 4, resumedCount: 1, ownerId: "bridge-2", lastSeq: 7n, errorCount: 1 });
    expect(after.metadata).toEqual({ lang: "en", nested: { list: [1, "two", true, null] } });
    expect(after.conversationHistory.map((h) => h.itemId)).toEqual(["h1", "h2"]);
    expect(after.conversationHistory[0]?.data).toEqual({ k: "v" });
    // The upsert replaced c1 in place, keeping its first created_at.
    expect(after.functionCalls.map((c) => [c.callId, c.status])).toEqual([["c1", "done"], ["c2", ""]]);
    expect(after.functionCalls[0]?.createdAt).toEqual(before.functionCalls[0]?.createdAt);
    expect(after.functionCalls[0]?.createdAt?.seconds).toBeLessThan(after.functionCalls[1]?.createdAt?.seconds ?? 0n);
    // A 10-byte ring keeps the two newest 4-byte chunks.
    expect(after.audioBuffer.map((a) => [a.seq, [...a.data]])).toEqual([[2n, [5, 6, 7, 8]], [3n, [9, 10, 11, 12]]]);
    expect(beforeStats[0]).toMatchObject({ totalSessions: 2, activeSessions: 1, resumedSessions: 1, failedResumes: 1 });
    expect(beforeStats[1]).toMatchObject({ totalSessions: 0, cleanupCount: 1 });

    // The etag sequence goes on from where it was.
    const next = await store.update(T, create(SessionUpdateSchema, { conversationId: "call-1", etag: after.etag }));
    expect(next.applied).toBe(true);
  });

  it("initialises an empty file and stamps it as ours, in WAL mode", async () => {
    const path = join(tempDir(), "empty.db");
    writeFileSync(path, "");
    const store = await openStore(path);
    await store.create(T, create(SessionSchema, { conversationId: "call-1" }), "bridge-1");
    const peek = new Database(path, { readonly: true });
    try {
      expect(peek.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(peek.pragma("application_id", { simple: true })).toBe(APPLICATION_ID);
      expect(peek.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    } finally {
      peek.close();
    }
  });

  it("upgrades a file of schema 2, indexing the item ids of the history it holds, so its items can be edited and windows start after them", async () => {
    const path = join(tempDir(), "schema-2.db");
    const before = await openStore(path);
    await before.create(T, create(SessionSchema, {
      conversationId: "call-1",
      conversationHistory: [{ itemId: "u1", text: "hello" }, { itemId: "a1", text: "hi there, how" }, { text: "no id" }],
    }), "bridge-1");
    await before.close();
    open.splice(open.indexOf(before), 1);
    // The file as schema 2 left it: no item_id column, no index on it.
    const old = new Database(path);
    old.exec("DROP INDEX history_by_item; ALTER TABLE history DROP COLUMN item_id; PRAGMA user_version = 2;");
    old.close();

    const store = await openStore(path);
    const peek = new Database(path, { readonly: true });
    try {
      expect(peek.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
      expect(peek.prepare("SELECT item_id FROM history ORDER BY id").pluck().all()).toEqual(["u1", "a1", ""]);
    } finally {
      peek.close();
    }
    await store.update(T, create(SessionUpdateSchema, { conversationId: "call-1", editHistory: [{ itemId: "a1", updateMask: { paths: ["text"] }, text: "hi there" }] }));
    const window = await store.getWindow(T, "call-1", { lastItems: 0, afterItemId: "u1" });
    expect(window.session.conversationHistory.map((i) => i.text)).toEqual(["hi there", "no id"]);
  });

  it("refuses a file that is not SQLite", async () => {
    const path = join(tempDir(), "random.db");
    writeFileSync(path, randomBytes(64 * 1024));
    await expectRefused(path, /is not a sessionstore database: it is not an SQLite file/);
  });

  it("refuses another application's SQLite database", async () => {
    const path = join(tempDir(), "other.db");
    const other = new Database(path);
    other.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada');");
    other.close();
    await expectRefused(path, /is not a sessionstore database: .*users/);
  });

  it("refuses an SQLite database stamped by another application, even an empty one", async () => {
    const path = join(tempDir(), "stamped.db");
    const other = new Database(path);
    other.pragma("application_id = 1234");
    other.close();
    await expectRefused(path, /is not a sessionstore database: its application_id 0x4d2/);
  });

  it("refuses a sessionstore database whose sessions table is corrupt", async () => {
    const path = join(tempDir(), "corrupt.db");
    await filledDatabase(path);
    const peek = new Database(path, { readonly: true });
    const pageSize = peek.pragma("page_size", { simple: true }) as number;
    const root = peek.prepare<[], number>("SELECT rootpage FROM sqlite_schema WHERE name = 'sessions'").pluck().get()!;
    peek.close();
    expect(root).toBeGreaterThan(1);
    const fd = openSync(path, "r+");
    writeSync(fd, randomBytes(pageSize), 0, pageSize, (root - 1) * pageSize);
    closeSync(fd);
    await expectRefused(path, /is corrupt: /);
  });

  it("refuses a database written by a newer sessionstore", async () => {
    const path = join(tempDir(), "newer.db");
    await filledDatabase(path);
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    await expectRefused(path, new RegExp(`was written by a newer sessionstore \\(schema ${SCHEMA_VERSION + 1}, this build knows ${SCHEMA_VERSION}\\)`));
  });

  it("keeps an acknowledged write when the process is killed right after it", async () => {
    const dir = tempDir();
    const path = join(dir, "killed.db");
    const src = resolve("src");
    // Plain JavaScript run as a module from the repository, so bare imports resolve.
    const script = `
      import { create } from "@bufbuild/protobuf";
      import { ManualClock } from ${JSON.stringify(join(src, "runtime", "clock.ts"))};
      import { SessionSchema, SessionUpdateSchema } from ${JSON.stringify(join(src, "gen/sessionstore/v1/session_store_pb.ts"))};
      import { defaultRules } from ${JSON.stringify(join(src, "session/rules.ts"))};
      import { SqliteStore } from ${JSON.stringify(join(src, "store/sqlite/sqlite-store.ts"))};
      const store = await SqliteStore.open({ path: ${JSON.stringify(path)}, rules: defaultRules, clock: new ManualClock() });
      await store.create("default", create(SessionSchema, { conversationId: "call-1" }), "bridge-1");
      await store.update("default", create(SessionUpdateSchema, { conversationId: "call-1", seq: 1n, appendHistory: [{ itemId: "h1", text: "hello" }] }));
      process.stdout.write("ok\\n");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise((done) => child.on("exit", done));
    await new Promise<void>((done, fail) => {
      child.stdout.on("data", (data: Buffer) => {
        if (!data.toString().includes("ok")) return;
        child.kill("SIGKILL");
        done();
      });
      child.on("exit", (code) => fail(new Error(`writer exited with ${code} before acknowledging`)));
    });
    expect(await exited).toBe(null);
    expect(existsSync(`${path}-wal`)).toBe(true);

    const session = await (await openStore(path)).get(T, "call-1", SessionView.FULL);
    expect(session.lastSeq).toBe(1n);
    expect(session.conversationHistory.map((h) => h.text)).toEqual(["hello"]);
  });

  it("checkpoints on close and refuses calls afterwards", async () => {
    const path = join(tempDir(), "closing.db");
    const store = await SqliteStore.open({ path, rules: defaultRules, clock: new ManualClock() });
    await store.create(T, create(SessionSchema, { conversationId: "call-1" }), "bridge-1");
    await store.close();
    await store.close();
    expect(!existsSync(`${path}-wal`) || statSync(`${path}-wal`).size === 0).toBe(true);
    for (const call of [store.get(T, "call-1", SessionView.FULL), store.ping(), store.stats(T)]) {
      await expect(call).rejects.toMatchObject({ reason: Reason.StorageUnavailable });
    }
  });

  it("reports a locked database as STORAGE_UNAVAILABLE without SQL in the message", async () => {
    const path = join(tempDir(), "locked.db");
    const store = await openStore(path);
    const other = new Database(path);
    other.pragma("busy_timeout = 0");
    other.exec("BEGIN EXCLUSIVE");
    try {
      const err = await store.create(T, create(SessionSchema, { conversationId: "call-1" }), "bridge-1").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SessionError);
      expect(err).toMatchObject({ reason: Reason.StorageUnavailable });
      expect((err as SessionError).message).not.toMatch(/SELECT|INSERT|BEGIN/i);
      expect((err as SessionError).cause).toBeInstanceOf(Database.SqliteError);
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    await store.create(T, create(SessionSchema, { conversationId: "call-1" }), "bridge-1");
  }, 20_000);
});
