import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionStatus, type SessionStoreClient } from "../../src/client/index.js";
import { sessionstore } from "../support/cli-run.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";
import { makeCa } from "../support/test-pki.js";

const ADMIN = "admin-token-0123456789abcdef";
const BRIDGE = "bridge-token-0123456789abcdef";

// The operator commands against a real sidecar on each backend, with auth on:
// what an operator types, and what they read back.
describe.each(["sqlite", "redis"] as const)("sessionstore sessions, stats and watch, on %s", (storage) => {
  let redis: RedisServer | undefined;
  let sidecar: Sidecar;
  let bridge: SessionStoreClient;
  const cli = (...args: string[]) => sessionstore([...args, "--address", sidecar.address], { env: { SESSIONSTORE_TOKEN: ADMIN } });

  beforeAll(async () => {
    const args = ["--auth-tokens", `${ADMIN}=acme:admin,${BRIDGE}=acme`];
    if (storage === "redis") {
      redis = await startRedisServer();
      args.push("--storage", "redis", "--redis-url", redis.url);
    }
    sidecar = await startSidecar({ args });
    bridge = sidecar.client({ token: BRIDGE });
    await bridge.createSession({
      session: {
        conversationId: "call-1",
        bridgeType: "audiocodes",
        botName: "billing",
        conversationHistory: [{ itemId: "i1", role: "user", type: "message", text: "I want to pay my bill" }],
        functionCalls: [{ callId: "fc1", functionName: "lookup_account", arguments: '{"id":7}' }],
        audioBuffer: [{ data: Buffer.from([0, 1, 2, 253, 254, 255]) }],
      },
      ownerId: "pod-a",
    });
    await bridge.createSession({ session: { conversationId: "call-2", bridgeType: "twilio" }, ownerId: "pod-b" });
    await bridge.resumeSession({ conversationId: "call-2", ownerId: "pod-c" });
  });
  afterAll(async () => {
    await sidecar?.stop();
    await redis?.stop();
  });

  it("lists sessions as a table, and as one JSON Session per line", async () => {
    const text = await cli("sessions", "list");
    expect(text).toMatchObject({ code: 0, stderr: "" });
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^CONVERSATION_ID\s+STATUS\s+BRIDGE\s+OWNER\s+EPOCH\s+RESUMED\s+LAST_ACTIVITY$/);
    expect(lines[1]).toMatch(/^call-1\s+initiated\s+audiocodes\s+pod-a\s+1\s+0\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(lines[2]).toMatch(/^call-2\s+active\s+twilio\s+pod-c\s+2\s+1\s+/);

    const json = await cli("sessions", "list", "--json", "--bridge-type", "twilio");
    const sessions = json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(sessions).toEqual([expect.objectContaining({ conversationId: "call-2", status: "SESSION_STATUS_ACTIVE", ownerEpoch: "2", resumedCount: 1 })]);
    expect((await cli("sessions", "list", "--limit", "1", "--json")).stdout.trimEnd().split("\n")).toHaveLength(1);
  });

  it("shows one session with its history, calls and audio; --json carries every audio byte", async () => {
    const text = await cli("sessions", "show", "call-1");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^conversation_id: +call-1$/m);
    expect(text.stdout).toMatch(/^bot_name: +billing$/m);
    expect(text.stdout).toContain("conversation_history: 1 items\n  i1 user message: I want to pay my bill\n");
    expect(text.stdout).toMatch(/^function_calls: 1\n  fc1 lookup_account +\S* *\{"id":7\}$/m);
    expect(text.stdout).toContain("audio_buffer: 1 chunks, 6 bytes, seq 1-1\n");

    const json = JSON.parse((await cli("sessions", "show", "call-1", "--json")).stdout);
    expect(Buffer.from(json.audioBuffer[0].data, "base64")).toEqual(Buffer.from([0, 1, 2, 253, 254, 255]));
    const stored = await bridge.getSession({ conversationId: "call-1" });
    expect(json.etag).toBe(stored.session?.etag);
  });

  it("ends a session with a reason, and deletes one", async () => {
    await bridge.createSession({ session: { conversationId: "call-3" } });
    await bridge.createSession({ session: { conversationId: "call-4" } });
    expect(await cli("sessions", "end", "call-3", "--reason", "stuck call")).toMatchObject({ code: 0, stdout: 'ended call-3 (end_reason "stuck call")\n' });
    const ended = (await bridge.getSession({ conversationId: "call-3" })).session;
    expect(ended).toMatchObject({ status: SessionStatus.ENDED, endReason: "stuck call" });
    expect(await cli("sessions", "delete", "call-4")).toMatchObject({ code: 0, stdout: "deleted call-4\n" });
    await expect(bridge.getSession({ conversationId: "call-4" })).rejects.toMatchObject({ code: 5 });
    const all = (await cli("sessions", "list", "--status", "all", "--json")).stdout;
    expect(all).toContain('"conversationId":"call-3"');
    expect(all).not.toContain('"conversationId":"call-4"');
  });

  it("prints the tenant's stats", async () => {
    const stats = await cli("stats");
    expect(stats.code).toBe(0);
    expect(stats.stdout).toMatch(/^resumed_sessions: +1$/m);
    const json = JSON.parse((await cli("stats", "--json")).stdout);
    expect(Number(json.totalSessions)).toBeGreaterThanOrEqual(2);
  });

  it("reports a failed call in one line with the code, reason and ErrorInfo, exit 1", async () => {
    const missing = await cli("sessions", "show", "no-such-call");
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toBe('sessionstore: NOT_FOUND SESSION_NOT_FOUND: session "no-such-call" not found (conversation_id=no-such-call)\n');

    const asBridge = await sessionstore(["sessions", "delete", "call-1", "--address", sidecar.address, "--token", BRIDGE]);
    expect(asBridge.code).toBe(1);
    expect(asBridge.stderr).toMatch(/^sessionstore: PERMISSION_DENIED \S+: .*\n$/);
    const noToken = await sessionstore(["stats", "--address", sidecar.address]);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/^sessionstore: UNAUTHENTICATED \S+: .*\n$/);
    const bad = await cli("sessions", "list", "--status", "gone");
    expect(bad).toMatchObject({ code: 2, stderr: 'sessionstore: --status: unknown status "gone" (use initiated, active, paused, ended, error or all)\n' });
  });

  it("watches events as JSON Lines, from the moment it says it is watching", async () => {
    const { spawn } = await import("node:child_process");
    const { BIN } = await import("../support/sidecar-process.js");
    const proc = spawn(process.execPath, [BIN, "watch", "--json", "--limit", "2", "--address", sidecar.address], { env: { ...process.env, SESSIONSTORE_TOKEN: ADMIN } });
    let stdout = "";
    proc.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    const watching = new Promise<string>((resolve) => proc.stderr.once("data", (c: Buffer) => resolve(c.toString())));
    const exited = new Promise<number | null>((resolve) => proc.on("exit", resolve));
    expect(await watching).toBe(`watching every session at ${sidecar.address}; Ctrl-C stops\n`);
    await bridge.createSession({ session: { conversationId: "call-5" } });
    await bridge.endSession({ conversationId: "call-5", reason: "done", ownerEpoch: 1n });
    expect(await exited).toBe(0);
    const events = stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(events.map((e) => [e.type, e.session.conversationId])).toEqual([
      ["SESSION_EVENT_TYPE_CREATED", "call-5"],
      ["SESSION_EVENT_TYPE_ENDED", "call-5"],
    ]);
  });
});

describe("sessionstore sessions over TLS", () => {
  it("calls a --tls-listen address with --tls-ca, and names the address when nothing serves", async () => {
    const ca = makeCa("cli-test-ca");
    const server = ca.server();
    const sidecar = await startSidecar({ args: ["--storage", "memory", "--tls-listen", "127.0.0.1:0", "--tls-cert", server.certFile, "--tls-key", server.keyFile] });
    try {
      const tlsAddress = String(sidecar.logs.find((l) => l.msg === "listening")?.tlsAddress);
      await sidecar.client().createSession({ session: { conversationId: "tls-1" } });
      const listed = await sessionstore(["sessions", "list", "--address", tlsAddress, "--tls-ca", ca.certFile]);
      expect(listed).toMatchObject({ code: 0, stderr: "" });
      expect(listed.stdout).toContain("tls-1");
      const plain = await sessionstore(["sessions", "list", "--address", tlsAddress, "--timeout", "2s"]);
      expect(plain.code).toBe(1);
      expect(plain.stderr).toMatch(/^sessionstore: (UNAVAILABLE|DEADLINE_EXCEEDED): .*\n$/);
    } finally {
      await sidecar.stop();
    }
    const down = await sessionstore(["stats", "--address", sidecar.address]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^sessionstore: UNAVAILABLE: .*\n$/);
  });
});
