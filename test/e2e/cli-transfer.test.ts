import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Session, SessionStatus } from "../../src/client/index.js";
import { sessionstore, shell } from "../support/cli-run.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";
import { type Sidecar, startSidecar, tempDbPath } from "../support/sidecar-process.js";

const ACME = "acme-admin-0123456789abcdef";
const GLOBEX = "globex-admin-0123456789abcdef";
const TOKENS = ["--auth-tokens", `${ACME}=acme:admin,${GLOBEX}=globex:admin`];

/** Sessions of two tenants in every shape a call leaves behind: resumed, fenced, ended, in error, with audio of random bytes. */
async function fill(sidecar: Sidecar): Promise<void> {
  const acme = sidecar.client({ token: ACME });
  const globex = sidecar.client({ token: GLOBEX });
  for (let i = 1; i <= 5; i++) {
    await acme.createSession({
      session: {
        conversationId: `acme-${i}`,
        bridgeType: i % 2 === 0 ? "twilio" : "audiocodes",
        botName: "billing",
        caller: `+1555000${i}`,
        mediaFormat: "raw/lpcm16",
        metadata: { fields: { plan: { kind: { case: "stringValue", value: `gold-${i}` } }, nested: { kind: { case: "listValue", value: { values: [{ kind: { case: "numberValue", value: i } }] } } } } },
        conversationHistory: [{ itemId: `a${i}`, role: "user", type: "message", text: `hello ${i}`, data: { fields: { lang: { kind: { case: "stringValue", value: "en" } } } } }],
        audioBuffer: [{ data: randomBytes(3200) }, { data: randomBytes(1600 + i) }],
      },
      ownerId: "pod-a",
    });
  }
  await acme.resumeSession({ conversationId: "acme-1", ownerId: "pod-b" });
  await acme.updateSession({
    update: {
      conversationId: "acme-1",
      ownerEpoch: 2n,
      seq: 41n,
      appendHistory: [{ itemId: "b1", role: "assistant", text: "your balance is 10" }],
      upsertFunctionCalls: [{ callId: "fc-1", functionName: "balance", arguments: '{"acct":1}', result: '{"amount":10}' }],
      appendAudio: [{ data: randomBytes(640) }],
      updateMask: { paths: ["openai_session_id", "current_turn", "audio_metadata"] },
      session: { openaiSessionId: "sess_abc", currentTurn: 3, audioMetadata: { fields: { rate: { kind: { case: "numberValue", value: 16000 } } } } },
    },
  });
  await acme.endSession({ conversationId: "acme-2", reason: "caller hung up" });
  await acme.updateSession({ update: { conversationId: "acme-3", updateMask: { paths: ["status", "last_error", "error_count"] }, session: { status: SessionStatus.ERROR, lastError: "model timeout", errorCount: 2 } } });
  await globex.createSession({ session: { conversationId: "acme-1", bridgeType: "other-tenant-same-id", audioBuffer: [{ data: randomBytes(10) }] }, ownerId: "pod-z" });
  acme.close();
  globex.close();
}

/** Every session of a tenant, FULL, in id order, read through the sidecar's API. */
async function sessionsOf(sidecar: Sidecar, token: string): Promise<Session[]> {
  const client = sidecar.client({ token });
  const { sessions } = await client.listSessions({ pageSize: 100, statuses: [1, 2, 3, 4, 5] });
  const full: Session[] = [];
  for (const s of sessions) full.push((await client.getSession({ conversationId: s.conversationId })).session!);
  return full;
}

describe("sessionstore export | sessionstore import: SQLite to Redis", () => {
  let redis: RedisServer;
  const dbPath = tempDbPath();
  let before: { acme: Session[]; globex: Session[] };
  let exported: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    const sqlite = await startSidecar({ dbPath, args: TOKENS });
    await fill(sqlite);
    before = { acme: await sessionsOf(sqlite, ACME), globex: await sessionsOf(sqlite, GLOBEX) };
    // The SQLite file is the sidecar's while it serves: export and import wait for it to stop.
    const refused = await sessionstore(["export", "--sqlite-path", dbPath]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^sessionstore: cannot open sqlite .*: .* is in use by another sessionstore process/);
    await sqlite.stop();
    exported = (await sessionstore(["export", "--sqlite-path", dbPath])).stdout;
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it("moves every session of every tenant in one pipe, field by field and byte by byte", async () => {
    expect(before.acme).toHaveLength(5);
    expect(before.globex).toHaveLength(1);
    const piped = await shell(`sessionstore export --sqlite-path '${dbPath}' | sessionstore import --storage redis --redis-url '${redis.url}'`);
    expect(piped.code).toBe(0);
    expect(piped.stderr).toContain(`exported 6 sessions from sqlite ${dbPath}`);
    expect(piped.stderr).toContain(`imported 6 sessions into redis ${redis.url}`);

    const served = await startSidecar({ args: [...TOKENS, "--storage", "redis", "--redis-url", redis.url] });
    try {
      const after = { acme: await sessionsOf(served, ACME), globex: await sessionsOf(served, GLOBEX) };
      expect(after).toEqual(before);
      // Byte by byte: the audio of every chunk, as bytes.
      const audio = (sessions: Session[]) => sessions.flatMap((s) => s.audioBuffer.map((c) => Buffer.from(c.data).toString("hex")));
      expect(audio(after.acme)).toEqual(audio(before.acme));
      expect(audio(after.acme).join("").length).toBeGreaterThan(5 * 2 * 4800);
      // A bridge resuming a moved call carries on: fencing, seq and etag as before the move.
      const acme = served.client({ token: ACME });
      const moved = before.acme[0]!;
      const stale = await acme.updateSession({ update: { conversationId: "acme-1", ownerEpoch: 1n, appendHistory: [{ text: "x" }] } }).catch((e: unknown) => e);
      expect(stale).toMatchObject({ code: 9 });
      const next = await acme.updateSession({ update: { conversationId: "acme-1", ownerEpoch: 2n, seq: 42n, etag: moved.etag, appendHistory: [{ text: "after the move" }] } });
      expect(next.applied).toBe(true);
    } finally {
      await served.stop();
    }
  });

  it("exports from Redis the same lines it exported from SQLite", async () => {
    const fresh = await startRedisServer();
    try {
      expect((await sessionstore(["import", "--storage", "redis", "--redis-url", fresh.url], { input: exported })).code).toBe(0);
      const again = await sessionstore(["export", "--storage", "redis", "--redis-url", fresh.url]);
      expect(again.stdout).toBe(exported);
      const lines = exported.trimEnd().split("\n").map((l) => JSON.parse(l));
      expect(lines.map((l) => [l.format, l.tenant, l.session.conversationId])).toEqual([
        ["sessionstore.export.v1", "acme", "acme-1"],
        ["sessionstore.export.v1", "acme", "acme-2"],
        ["sessionstore.export.v1", "acme", "acme-3"],
        ["sessionstore.export.v1", "acme", "acme-4"],
        ["sessionstore.export.v1", "acme", "acme-5"],
        ["sessionstore.export.v1", "globex", "acme-1"],
      ]);
    } finally {
      await fresh.stop();
    }
  });

  it("refuses sessions already there unless --replace, and names each bad line while importing the rest", async () => {
    const target = tempDbPath();
    expect((await sessionstore(["import", "--sqlite-path", target], { input: exported })).code).toBe(0);
    const twice = await sessionstore(["import", "--sqlite-path", target], { input: exported });
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('sessionstore: line 1 (tenant acme, conversation_id acme-1): SESSION_EXISTS: session "acme-1" already exists');
    expect(twice.stderr).toContain(`imported 0 sessions into sqlite ${target}; 6 failed`);
    const replaced = await sessionstore(["import", "--sqlite-path", target, "--replace"], { input: exported });
    expect(replaced).toMatchObject({ code: 0 });
    expect(replaced.stderr).toContain(`imported 6 sessions (6 replaced) into sqlite ${target}`);

    const first = exported.split("\n")[0]!;
    const mixed = [
      first.replace('"format":"sessionstore.export.v1"', '"format":"sessionstore.export.v9"'),
      "not json",
      first.replace('"acme-1"', '"acme-9"'),
      first.replace('"conversationId":"acme-1"', '"conversationId":"acme-8","futureField":1'),
      first.replace('"tenant":"acme"', '"tenant":"no such tenant"'),
    ].join("\n");
    const partly = await sessionstore(["import", "--sqlite-path", target], { input: mixed });
    expect(partly.code).toBe(1);
    expect(partly.stderr).toContain('sessionstore: line 1: format is "sessionstore.export.v9"; this build reads "sessionstore.export.v1"');
    expect(partly.stderr).toMatch(/sessionstore: line 2: not JSON: /);
    expect(partly.stderr).toContain('sessionstore: line 4: session is not a sessionstore.v1.Session: cannot decode message sessionstore.v1.Session from JSON: key "futureField" is unknown');
    expect(partly.stderr).toContain('sessionstore: line 5: tenant "no such tenant" is not a tenant name');
    expect(partly.stderr).toContain(`imported 1 sessions into sqlite ${target}; 4 failed`);
    const check = await sessionstore(["check", "--sqlite-path", target]);
    expect(check).toMatchObject({ code: 0, stdout: `${target}: ok, 7 sessions, no damage found\n` });
  });

  it("exports one tenant to a file with --tenant and --to, and imports it with --from", async () => {
    const file = `${tempDbPath()}.jsonl`;
    const written = await sessionstore(["export", "--sqlite-path", dbPath, "--tenant", "globex", "--to", file]);
    expect(written).toMatchObject({ code: 0, stdout: "", stderr: `exported 1 sessions from sqlite ${dbPath}\n` });
    const target = tempDbPath();
    expect(await sessionstore(["import", "--sqlite-path", target, "--from", file])).toMatchObject({ code: 0, stderr: `imported 1 sessions into sqlite ${target}\n` });
    const globexLine = exported.split("\n").find((l) => l.includes('"tenant":"globex"'));
    expect((await sessionstore(["export", "--sqlite-path", target])).stdout).toBe(`${globexLine}\n`);
    const unreadable = await sessionstore(["import", "--sqlite-path", target, "--from", `${file}.none`]);
    expect(unreadable.code).toBe(2);
    expect(unreadable.stderr).toMatch(/^sessionstore: cannot read .*\.none: ENOENT/);
  });

  it("refuses to export a SQLite file that does not exist instead of creating it", async () => {
    const missing = `${tempDbPath()}.missing`;
    expect(await sessionstore(["export", "--sqlite-path", missing])).toMatchObject({ code: 2, stdout: "", stderr: `sessionstore: ${missing} does not exist (--sqlite-path)\n` });
  });
});
