import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectRpcError } from "../support/grpc-expect.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import { runCli, type Sidecar, startSidecar } from "../support/sidecar-process.js";
import { errorDetailsOf } from "../../src/client/index.js";
import { watch, watching } from "../support/session-watch.js";
import { ackReason, openUpdateStream } from "../support/update-stream-raw.js";

const ADMIN = "admin-0f3c9a1b7d2e4c68";
const BRIDGE = "bridge-5e7d1c9b3a2f8e40";
const OTHER = "other-9a8b7c6d5e4f3a21";

async function eventually(check: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "sessionstore-access-"));
}

/** Everything the sidecar printed: its JSON log lines, as parsed, and stderr. */
function everythingPrinted(sidecar: Sidecar): string {
  return JSON.stringify(sidecar.logs) + sidecar.stderr();
}

describe("tokens from a file", () => {
  let sidecar: Sidecar;
  let dir: string;

  // Laid out as the kubelet mounts a Secret: each key a link into a timestamped
  // directory, swapped in one rename when the Secret changes.
  function writeSecret(keys: Record<string, string>, version: string): void {
    const data = join(dir, `..${version}`);
    mkdirSync(data);
    for (const [key, value] of Object.entries(keys)) writeFileSync(join(data, key), value);
    symlinkSync(`..${version}`, join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
  }

  beforeAll(async () => {
    dir = tempDir();
    writeSecret({ admins: `# operators\n${ADMIN}=alpha:admin\n`, bridges: `${BRIDGE}=alpha\n` }, "v1");
    for (const key of ["admins", "bridges"]) symlinkSync(join("..data", key), join(dir, key));
    sidecar = await startSidecar({ args: ["--auth-tokens-file", dir, "--storage", "memory"] });
  });
  afterAll(async () => {
    await sidecar.stop();
  });

  it("accepts the file's tokens and, once it changes, refuses a removed one and accepts an added one", async () => {
    await sidecar.client({ token: BRIDGE }).createSession({ session: { conversationId: "call-1" } });
    await expectRpcError(sidecar.client({ token: OTHER }).getStats({}), status.UNAUTHENTICATED, "UNAUTHENTICATED");
    const stream = openUpdateStream(sidecar.address, { token: BRIDGE });
    await stream.send({ conversationId: "call-1", ownerEpoch: 1n, seq: 1n });
    await stream.waitForAcks(1);

    writeSecret({ admins: `${ADMIN}=alpha:admin\n`, bridges: `${OTHER}=alpha\n` }, "v2");
    await eventually(async () => {
      await expectRpcError(sidecar.client({ token: BRIDGE }).getStats({}), status.UNAUTHENTICATED, "UNAUTHENTICATED");
    });
    // A stream opened with the removed token takes nothing more either.
    await stream.send({ conversationId: "call-1", ownerEpoch: 1n, seq: 2n });
    const end = await stream.ended;
    stream.close();
    expect({ code: end.code, reason: end.errorDetails.errorInfo?.reason, acks: stream.acks.length }).toEqual({ code: status.UNAUTHENTICATED, reason: "UNAUTHENTICATED", acks: 1 });
    expect((await sidecar.client({ token: OTHER }).getSession({ conversationId: "call-1" })).session?.conversationId).toBe("call-1");
    const reloaded = sidecar.logs.find((l) => l.msg === "tokens reloaded");
    expect(reloaded).toMatchObject({ tokens: 2, tenants: ["alpha"] });
  });

  it("keeps the last good tokens when the file turns bad, and logs where without the secret", async () => {
    // Written backwards, and with a plain word for a token: neither side may be printed.
    writeSecret({ admins: `${ADMIN}=alpha:admin\n`, bridges: `${OTHER}=alpha\nalpha=s3cr3t/with+slash\nalpha=s3cr3tPlain\n` }, "v3");
    await eventually(async () => {
      expect(sidecar.logs.some((l) => l.msg.startsWith("the tokens file cannot be used"))).toBe(true);
    });
    const logged = sidecar.logs.find((l) => l.msg.startsWith("the tokens file cannot be used"))!;
    expect(logged.problem).toContain(`line 2 of ${join(dir, "bridges")}`);
    expect((await sidecar.client({ token: OTHER }).getStats({})).totalSessions).toBe(1n);
    const printed = everythingPrinted(sidecar);
    for (const secret of [ADMIN, BRIDGE, OTHER, "s3cr3t"]) expect(printed).not.toContain(secret);
  });
});

describe("roles", () => {
  let sidecar: Sidecar;

  beforeAll(async () => {
    sidecar = await startSidecar({ args: ["--auth-tokens", `${ADMIN}=alpha:admin,${BRIDGE}=alpha`] });
  });
  afterAll(async () => {
    await sidecar.stop();
  });

  it("lets a bridge run its calls with their epoch, and refuses it unfenced writes, delete, cleanup and list", async () => {
    const bridge = sidecar.client({ token: BRIDGE });
    const { session } = await bridge.resumeSession({ conversationId: "call-r", ownerId: "pod-a", createIfMissing: true });
    const epoch = session!.ownerEpoch;
    expect((await bridge.updateSession({ update: { conversationId: "call-r", ownerEpoch: epoch, seq: 1n } })).applied).toBe(true);

    const denied = [
      bridge.updateSession({ update: { conversationId: "call-r", ownerEpoch: 0n } }),
      bridge.endSession({ conversationId: "call-r", ownerEpoch: 0n }),
      bridge.deleteSession({ conversationId: "call-r" }),
      bridge.cleanupSessions({}),
      bridge.listSessions({}),
    ];
    for (const call of denied) {
      const { details } = await expectRpcError(call, status.PERMISSION_DENIED, "PERMISSION_DENIED");
      expect(details.errorInfo?.metadata).toEqual({ role: "bridge", required_role: "admin" });
    }

    // On a stream the unfenced update gets its own error ack, and the stream goes on.
    const stream = openUpdateStream(sidecar.address, { token: BRIDGE });
    await stream.send({ conversationId: "call-r", ownerEpoch: 0n, seq: 2n });
    await stream.send({ conversationId: "call-r", ownerEpoch: epoch, seq: 3n });
    const acks = await stream.waitForAcks(2);
    stream.halfClose();
    await stream.ended;
    stream.close();
    expect(acks.map((a) => [a.seq, ackReason(a) ?? "applied"])).toEqual([[2n, "PERMISSION_DENIED"], [3n, "applied"]]);

    // Watching the whole tenant is listing it as it changes; one session, reading it.
    const tenantWide = await watching(bridge.watchSessions({})).ended;
    expect({ code: tenantWide?.code, info: errorDetailsOf(tenantWide).errorInfo?.metadata }).toEqual({ code: status.PERMISSION_DENIED, info: { role: "bridge", required_role: "admin" } });
    const one = await watch(bridge, { conversationId: "call-r" });

    expect((await bridge.endSession({ conversationId: "call-r", ownerEpoch: epoch, reason: "hung up" })).session?.endReason).toBe("hung up");
    expect((await one.waitFor(1)).map((e) => e.session?.conversationId)).toEqual(["call-r"]);
  });

  it("lets an admin do everything a bridge may not", async () => {
    const admin = sidecar.client({ token: ADMIN });
    await admin.createSession({ session: { conversationId: "call-a" } });
    expect((await admin.updateSession({ update: { conversationId: "call-a", ownerEpoch: 0n } })).applied).toBe(true);
    expect((await admin.listSessions({})).sessions.map((s) => s.conversationId)).toEqual(["call-a"]);
    expect((await admin.endSession({ conversationId: "call-a", ownerEpoch: 0n })).session?.conversationId).toBe("call-a");
    await admin.deleteSession({ conversationId: "call-a" });
    expect((await admin.cleanupSessions({ dryRun: true })).deletedCount).toBe(0);
    const stream = openUpdateStream(sidecar.address, { token: ADMIN });
    await admin.createSession({ session: { conversationId: "call-s" } });
    await stream.send({ conversationId: "call-s", ownerEpoch: 0n, seq: 1n });
    const [ack] = await stream.waitForAcks(1);
    stream.halfClose();
    await stream.ended;
    stream.close();
    expect(ack?.applied).toBe(true);
  });

  it("gives every caller every right with auth off, as before roles existed", async () => {
    const open = await startSidecar({ args: ["--storage", "memory"] });
    try {
      const client = open.client();
      await client.createSession({ session: { conversationId: "call-o" } });
      expect((await client.updateSession({ update: { conversationId: "call-o", ownerEpoch: 0n } })).applied).toBe(true);
      expect((await client.listSessions({})).sessions).toHaveLength(1);
      await client.deleteSession({ conversationId: "call-o" });
    } finally {
      await open.stop();
    }
  });
});

describe.each(["memory", "sqlite", "redis"] as const)("tenant quotas on %s", (storage) => {
  let sidecar: Sidecar;
  let redis: RedisServer | undefined;
  const A = "tenant-a-0123456789ab";
  const B = "tenant-b-0123456789ab";

  beforeAll(async () => {
    const args = ["--storage", storage, "--max-sessions", "5", "--max-sessions-per-tenant", "3", "--auth-tokens", `${A}=alpha,${B}=beta`];
    if (storage === "redis") {
      redis = await startRedisServer();
      args.push("--redis-url", redis.url);
    }
    sidecar = await startSidecar({ args });
  });
  afterAll(async () => {
    await sidecar?.stop();
    await redis?.stop();
  });

  it("stops a tenant at its cap without blocking another, naming only its own figures", async () => {
    const a = sidecar.client({ token: A });
    const b = sidecar.client({ token: B });
    for (const id of ["b1", "b2", "b3"]) await b.createSession({ session: { conversationId: id } });
    const { error, details } = await expectRpcError(b.createSession({ session: { conversationId: "b4" } }), status.RESOURCE_EXHAUSTED, "MAX_SESSIONS");
    expect(details.errorInfo?.metadata).toEqual({ limit: "max_sessions_per_tenant", max_sessions_per_tenant: "3", tenant_live_sessions: "3" });
    expect(error.details).toContain("this tenant already holds 3 live sessions");

    await a.createSession({ session: { conversationId: "a1" } });
    await a.createSession({ session: { conversationId: "a2" } });
    // The store holds 5 now, its cap: A hears that, and nothing of how many are B's.
    const global = await expectRpcError(a.createSession({ session: { conversationId: "a3" } }), status.RESOURCE_EXHAUSTED, "MAX_SESSIONS");
    expect(global.details.errorInfo?.metadata).toEqual({ limit: "max_sessions", max_sessions: "5" });
    expect(global.error.details).not.toMatch(/\b[23]\b|holds 5/);

    // B ending one of its calls makes room for A.
    await b.endSession({ conversationId: "b1", ownerEpoch: 1n });
    await a.createSession({ session: { conversationId: "a3" } });
  });
});

describe("a token is never printed", () => {
  it.each([
    ["a pair written backwards", "alpha=s3cr3t/with+slash", "s3cr3t/with+slash"],
    ["a pair with a word for a token", "alpha=s3cr3tPlain", "s3cr3tPlain"],
  ])("refuses %s at start, printing neither side", async (_name, pairs, secret) => {
    const result = await runCli(["serve", "--listen", "127.0.0.1:0", "--storage", "memory", "--auth-tokens", pairs]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("auth-tokens (from --auth-tokens) entry 1");
    expect(result.stdout + result.stderr).not.toContain(secret);
    expect(result.stdout + result.stderr).not.toContain("alpha");
  });

  it("refuses a bad tokens file at start by file and line only", async () => {
    const file = join(tempDir(), "tokens");
    writeFileSync(file, `${ADMIN}=alpha:admin\nalpha=s3cr3tPlain\n`);
    const result = await runCli(["serve", "--listen", "127.0.0.1:0", "--storage", "memory", "--auth-tokens-file", file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`auth-tokens-file line 2 of ${file}`);
    for (const secret of [ADMIN, "s3cr3tPlain"]) expect(result.stdout + result.stderr).not.toContain(secret);
  });

  it("keeps tokens out of --help and of the logged configuration", async () => {
    const help = await runCli(["serve", "--help"], { SESSIONSTORE_AUTH_TOKENS: `${ADMIN}=alpha:admin` });
    expect(help.stdout).toContain("--auth-tokens-file");
    expect(help.stdout + help.stderr).not.toContain(ADMIN);
    const sidecar = await startSidecar({ args: ["--storage", "memory"], env: { SESSIONSTORE_AUTH_TOKENS: `${ADMIN}=alpha:admin` } });
    await sidecar.client({ token: ADMIN }).getStats({});
    await expectRpcError(sidecar.client({ token: `${ADMIN}x` }).getStats({}), status.UNAUTHENTICATED, "UNAUTHENTICATED");
    await sidecar.stop();
    expect(sidecar.logs.find((l) => l.msg === "configuration")).toMatchObject({ authTenants: ["alpha"] });
    expect(everythingPrinted(sidecar)).not.toContain(ADMIN);
  });
});
