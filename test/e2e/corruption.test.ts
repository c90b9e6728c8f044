import { status } from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionView, type SessionStoreClient } from "../../src/client/index.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import { ackReason, openUpdateStream } from "../support/update-stream-raw.js";
import { runCli, type Sidecar, startSidecar, tempDbPath } from "../support/sidecar-process.js";

const DAMAGED = "DATA_CORRUPTED";
const LOGGED = "a stored session record is damaged; the session fails with DATA_LOSS and is left out of lists until it is deleted or restored";

/** Two bytes of a stored blob with bits flipped (all of them by default), as a bad disk sector or a stray write would. */
function flipTwo(blob: Buffer, at: number, bits = 0xff): Buffer {
  const damaged = Buffer.from(blob);
  damaged[at] = damaged[at]! ^ bits;
  damaged[at + 1] = damaged[at + 1]! ^ bits;
  return damaged;
}

async function expectDamaged(call: Promise<unknown>, conversationId: string, part: string): Promise<void> {
  const { details } = await expectRpcError(call, status.DATA_LOSS, DAMAGED);
  expect(details.errorInfo?.metadata).toEqual({ conversation_id: conversationId, part });
}

function damageLogs(sidecar: Sidecar, conversationId: string) {
  return sidecar.logs.filter((l) => l.msg === LOGGED && l.conversationId === conversationId);
}

// A record damaged on disk costs its own session, with an error that says so, and nothing else.
describe("a damaged SQLite record", () => {
  const dbPath = tempDbPath();
  let sidecar: Sidecar;
  let client: SessionStoreClient;

  beforeAll(async () => {
    const first = await startSidecar({ dbPath });
    const c = first.client({ retry: false });
    for (const id of ["ok-1", "ok-2", "ok-3", "bad-wire", "bad-id", "bad-history", "bad-old"]) {
      await c.createSession({ session: { conversationId: id, bridgeType: "twilio", caller: "+15550100" } });
    }
    await c.updateSession({ update: { conversationId: "bad-history", appendHistory: [{ itemId: "i1", role: "user", text: "hello" }] } });
    await first.stop();

    // Written with a connection of its own while no sidecar runs, the way damage arrives from outside.
    const db = new Database(dbPath);
    const header = (id: string) => db.prepare<[string], Buffer>("SELECT header FROM sessions WHERE conversation_id = ?").pluck().get(id)!;
    const setHeader = db.prepare("UPDATE sessions SET header = ? WHERE conversation_id = ?");
    // The first bytes: the tag and length of conversation_id, so the message no longer parses.
    setHeader.run(flipTwo(header("bad-wire"), 0), "bad-wire");
    // One bit in each of two letters of the id itself: it still parses, into a header of some other id.
    setHeader.run(flipTwo(header("bad-id"), 2, 0x01), "bad-id");
    setHeader.run(flipTwo(header("bad-old"), 0), "bad-old");
    // Idle for a day by its indexed column, so cleanup may delete it without reading the header.
    db.prepare("UPDATE sessions SET last_activity_ms = ? WHERE conversation_id = 'bad-old'").run(Date.now() - 86_400_000);
    db.prepare("UPDATE history SET item = ? WHERE conversation_id = 'bad-history'").run(Buffer.from([0xff, 0xff, 0xff]));
    db.close();

    sidecar = await startSidecar({ dbPath, args: ["--max-session-age", "48h"] });
    client = sidecar.client({ retry: false });
  });
  afterAll(async () => {
    await sidecar?.stop();
  });

  it("answers Get, Resume, ValidateResume, Update and End of the damaged session with DATA_LOSS naming it", async () => {
    for (const id of ["bad-wire", "bad-id"]) {
      await expectDamaged(client.getSession({ conversationId: id }), id, "header");
      await expectDamaged(client.getSession({ conversationId: id, view: SessionView.BASIC }), id, "header");
      await expectDamaged(client.resumeSession({ conversationId: id, ownerId: "pod-b" }), id, "header");
      await expectDamaged(client.validateResume({ conversationId: id }), id, "header");
      await expectDamaged(client.updateSession({ update: { conversationId: id, seq: 1n, updateMask: { paths: ["current_turn"] }, session: { currentTurn: 2 } } }), id, "header");
      await expectDamaged(client.endSession({ conversationId: id }), id, "header");
      await expectDamaged(client.createSession({ session: { conversationId: id } }), id, "header");
    }
  });

  it("answers a FULL read of a session with a damaged history item with DATA_LOSS, and its BASIC read as before", async () => {
    await expectDamaged(client.getSession({ conversationId: "bad-history" }), "bad-history", "history");
    await expectDamaged(client.resumeSession({ conversationId: "bad-history", ownerId: "pod-b" }), "bad-history", "history");
    const { session } = await client.getSession({ conversationId: "bad-history", view: SessionView.BASIC });
    expect(session?.caller).toBe("+15550100");
  });

  it("commits the other sessions of a group of updates, and keeps the writer serving", async () => {
    const update = (id: string) => client.updateSession({ update: { conversationId: id, seq: 7n, updateMask: { paths: ["current_turn"] }, session: { currentTurn: 7 } } });
    const results = await Promise.allSettled([update("ok-1"), update("bad-wire"), update("ok-2"), update("bad-id"), update("ok-3")]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "rejected", "fulfilled"]);
    for (const id of ["ok-1", "ok-2", "ok-3"]) expect((await client.getSession({ conversationId: id })).session?.currentTurn).toBe(7);

    const stream = openUpdateStream(sidecar.address);
    for (const id of ["ok-1", "bad-wire", "ok-2"]) await stream.send({ conversationId: id, seq: 8n, updateMask: { paths: ["current_turn"] }, session: { currentTurn: 8 } });
    const acks = await stream.waitForAcks(3);
    stream.halfClose();
    stream.close();
    expect(acks.map((a) => [a.conversationId, a.error?.code ?? 0, ackReason(a)])).toEqual([
      ["ok-1", 0, undefined],
      ["bad-wire", status.DATA_LOSS, DAMAGED],
      ["ok-2", 0, undefined],
    ]);
    await client.createSession({ session: { conversationId: "after-damage" } });
  });

  it("lists every readable session, leaving the damaged ones out, page by page and whole", async () => {
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await client.listSessions({ pageSize: 1, pageToken });
      seen.push(...page.sessions.map((s) => s.conversationId));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(seen).toEqual(["after-damage", "bad-history", "ok-1", "ok-2", "ok-3"]);

    const { sessions } = await client.listSessions({ pageSize: 100 });
    expect(sessions.map((s) => s.conversationId)).toEqual(["after-damage", "bad-history", "ok-1", "ok-2", "ok-3"]);
    // A FULL list reads the children too: the session whose history is damaged drops out.
    const full = await client.listSessions({ pageSize: 2, view: SessionView.FULL });
    expect(full.sessions.map((s) => s.conversationId)).toEqual(["after-damage", "ok-1"]);
    expect(full.nextPageToken).not.toBe("");
  });

  it("counts in GetStats, logs each damaged record once however often it is asked for", async () => {
    const stats = await client.getStats();
    expect(stats.totalSessions).toBe(8n);
    for (let i = 0; i < 3; i++) await expectDamaged(client.getSession({ conversationId: "bad-wire" }), "bad-wire", "header");
    await client.listSessions({ pageSize: 100 });
    expect(damageLogs(sidecar, "bad-wire")).toHaveLength(1);
    expect(damageLogs(sidecar, "bad-id")).toHaveLength(1);
    expect(damageLogs(sidecar, "bad-wire")[0]).toMatchObject({ level: 50, tenant: "default", part: "header" });
  });

  it("reports the damage with `sessionstore check` while the sidecar serves the file, exiting 1", async () => {
    const result = await runCli(["check", "--sqlite-path", dbPath]);
    expect(result.code).toBe(1);
    for (const id of ["bad-wire", "bad-id", "bad-old"]) expect(result.stdout).toMatch(new RegExp(`damaged: tenant "default" conversation_id "${id}": header: `));
    expect(result.stdout).toContain('conversation_id "bad-id": header: the header names conversation_id "c`d-id"');
    expect(result.stdout).toMatch(/damaged: tenant "default" conversation_id "bad-history": history: /);
    expect(result.stdout).not.toMatch(/ok-1/);
    expect(result.stdout).toMatch(/4 damaged records \(4 of 8 sessions\)/);
    // The sidecar it ran beside goes on.
    await client.getSession({ conversationId: "ok-1" });
  });

  it("cleans up a damaged expired session by its indexed columns, and deletes a damaged one asked for without an etag", async () => {
    expect((await client.cleanupSessions({ maxAge: { seconds: 3600n }, dryRun: true })).deletedCount).toBe(1);
    expect((await client.cleanupSessions({ maxAge: { seconds: 3600n } })).deletedCount).toBe(1);
    await expectRpcError(client.getSession({ conversationId: "bad-old" }), status.NOT_FOUND, "SESSION_NOT_FOUND");

    await expectDamaged(client.deleteSession({ conversationId: "bad-id", etag: "1" }), "bad-id", "header");
    await client.deleteSession({ conversationId: "bad-id" });
    await expectRpcError(client.getSession({ conversationId: "bad-id" }), status.NOT_FOUND, "SESSION_NOT_FOUND");
    await client.createSession({ session: { conversationId: "bad-id" } });
  });
});

describe("sessionstore check", () => {
  it("exits 0 on a clean file and 2 on a file that is missing or not a sessionstore database", async () => {
    const dbPath = tempDbPath();
    const sidecar = await startSidecar({ dbPath });
    const client = sidecar.client({ retry: false });
    await client.createSession({ session: { conversationId: "clean-1" } });
    await client.updateSession({ update: { conversationId: "clean-1", appendHistory: [{ itemId: "i1", text: "hi" }], upsertFunctionCalls: [{ callId: "c1", functionName: "f" }] } });
    const live = await runCli(["check", "--sqlite-path", dbPath]);
    await sidecar.stop();
    expect([live.code, live.stdout]).toEqual([0, `${dbPath}: ok, 1 sessions, no damage found\n`]);
    const stopped = await runCli(["check"], { SESSIONSTORE_SQLITE_PATH: dbPath });
    expect(stopped.code).toBe(0);

    const missing = await runCli(["check", "--sqlite-path", `${dbPath}.missing`]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot be opened/);
    const other = tempDbPath();
    new Database(other).exec("CREATE TABLE t (x)").close();
    const foreign = await runCli(["check", "--sqlite-path", other]);
    expect([foreign.code, foreign.stderr]).toEqual([2, expect.stringMatching(/is not a sessionstore database/)]);
    expect((await runCli(["check", "--no-such-flag"])).code).toBe(2);
  });
});

describe("a damaged Redis header", () => {
  let redis: RedisServer;
  let sidecar: Sidecar;
  let client: SessionStoreClient;

  beforeAll(async () => {
    redis = await startRedisServer();
    sidecar = await startSidecar({ args: ["--storage", "redis", "--redis-url", redis.url] });
    client = sidecar.client({ retry: false });
    for (const id of ["r-ok-1", "r-bad", "r-ok-2", "r-old"]) await client.createSession({ session: { conversationId: id } });
    // Written once the sidecar has the head cached, as a stray write by another client would be.
    await client.updateSession({ update: { conversationId: "r-bad", seq: 1n, updateMask: { paths: ["current_turn"] }, session: { currentTurn: 1 } } });
    const direct = new Redis(redis.url);
    const key = "sessionstore:session:{default:r-bad}:header";
    const header = (await direct.hgetBuffer(key, "session"))!;
    await direct.hset(key, "session", flipTwo(header, 0));
    // Damaged too, and idle for two days by the fields cleanup goes by.
    const old = "sessionstore:session:{default:r-old}:header";
    const twoDaysAgo = Date.now() - 2 * 86_400_000;
    await direct.hset(old, "session", flipTwo((await direct.hgetBuffer(old, "session"))!, 0), "last_activity", String(twoDaysAgo));
    await direct.zadd("sessionstore:tenant:{default}:activity", twoDaysAgo, "r-old");
    direct.disconnect();
  });
  afterAll(async () => {
    await sidecar?.stop();
    await redis?.stop();
  });

  it("answers the damaged session with DATA_LOSS and serves the others: list, stats, updates, cleanup", async () => {
    await expectDamaged(client.getSession({ conversationId: "r-bad" }), "r-bad", "header");
    await expectDamaged(client.getSession({ conversationId: "r-bad", view: SessionView.BASIC }), "r-bad", "header");
    await expectDamaged(client.resumeSession({ conversationId: "r-bad", ownerId: "pod-b" }), "r-bad", "header");
    // The resume above dropped the head this sidecar had cached, so updates read the damaged header.
    const update = (id: string, seq: bigint) => client.updateSession({ update: { conversationId: id, seq, updateMask: { paths: ["current_turn"] }, session: { currentTurn: 5 } } });
    const results = await Promise.allSettled([update("r-ok-1", 2n), update("r-bad", 2n), update("r-ok-2", 2n)]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    await expectDamaged(update("r-bad", 3n), "r-bad", "header");

    expect((await client.listSessions({})).sessions.map((s) => s.conversationId)).toEqual(["r-ok-1", "r-ok-2"]);
    expect((await client.listSessions({ view: SessionView.FULL })).sessions.map((s) => s.conversationId)).toEqual(["r-ok-1", "r-ok-2"]);
    expect((await client.getStats()).totalSessions).toBe(3n);
    // The expired damaged one goes, by its last_activity field; the one still fresh stays.
    expect((await client.cleanupSessions({ maxAge: { seconds: 3600n } })).deletedCount).toBe(1);
    await expectRpcError(client.getSession({ conversationId: "r-old" }), status.NOT_FOUND, "SESSION_NOT_FOUND");
    expect(damageLogs(sidecar, "r-bad")).toHaveLength(1);

    // Deleted without an etag, it is gone with its index entries, and its id can be used again.
    await expectDamaged(client.deleteSession({ conversationId: "r-bad", etag: "1" }), "r-bad", "header");
    await client.deleteSession({ conversationId: "r-bad" });
    await expectRpcError(client.getSession({ conversationId: "r-bad" }), status.NOT_FOUND, "SESSION_NOT_FOUND");
    expect((await client.getStats()).totalSessions).toBe(2n);
    await client.createSession({ session: { conversationId: "r-bad" } });
  });
});
