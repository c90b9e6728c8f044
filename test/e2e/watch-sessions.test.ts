import { createServer } from "node:net";
import { status as GrpcCode } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorReasonOf, SessionStatus, statusDetailsOf, SessionStoreClient, type WatchSessionsResponse } from "../../src/client/index.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { monitorRedis } from "../support/redis-monitor.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import { summary, unreadWatch, watch, watching } from "../support/session-watch.js";
import { type Sidecar, startSidecar, tempDbPath } from "../support/sidecar-process.js";
import { streamedUpdate } from "../support/update-stream-raw.js";

const sidecars: Sidecar[] = [];
let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  await redis?.stop();
});

async function sidecar(args: string[] = [], dbPath?: string): Promise<Sidecar> {
  const s = await startSidecar({ args, ...(dbPath === undefined ? {} : { dbPath }) });
  sidecars.push(s);
  return s;
}

/** A sidecar's arguments for the test Redis under `prefix`: sidecars with one prefix share their data and events, and no others'. */
const onRedis = (prefix: string) => ["--storage", "redis", "--redis-url", redis.url, "--redis-key-prefix", prefix];

let prefixes = 0;
const backends: Record<string, () => string[]> = {
  memory: () => ["--storage", "memory"],
  sqlite: () => ["--storage", "sqlite"],
  // A key prefix per sidecar, so that tests sharing the Redis do not see each other's events.
  redis: () => onRedis(`watch-${process.pid}-${prefixes++}:`),
};


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(Object.keys(backends))("WatchSessions on %s", (backend) => {
  it("streams create → update → resume → end → cleanup in commit order, each session BASIC, filtered by id and status", async () => {
    const s = await sidecar(backends[backend]!());
    const client = s.client({ retry: false });
    const all = await watch(client);
    const onlyA = await watch(client, { conversationId: "call-a" });
    const ended = await watch(client, { statuses: [SessionStatus.ENDED] });

    const before = Date.now();
    await client.createSession({
      ownerId: "bridge-1",
      session: { conversationId: "call-a", conversationHistory: [{ itemId: "h1", role: "user", type: "message", text: "my card number is 4111" }] },
    });
    await client.createSession({ ownerId: "bridge-1", session: { conversationId: "call-b" } });
    await client.updateSession({ update: { conversationId: "call-a", ownerEpoch: 1n, seq: 1n, updateMask: { paths: ["status"] }, session: { status: SessionStatus.ACTIVE } } });
    const ack = await streamedUpdate(client, {
      conversationId: "call-a",
      ownerEpoch: 1n,
      seq: 2n,
      updateMask: { paths: ["current_turn"] },
      session: { currentTurn: 3 },
      appendHistory: [{ itemId: "h2", role: "assistant", type: "message", text: "thanks" }],
    });
    expect(ack.applied).toBe(true);
    await client.resumeSession({ conversationId: "call-a", ownerId: "bridge-2" });
    await client.endSession({ conversationId: "call-a", reason: "caller hung up", ownerEpoch: 2n });
    await client.deleteSession({ conversationId: "call-b" });
    await sleep(5);
    const cleanup = await client.cleanupSessions({ maxAge: { nanos: 1_000_000 } });
    expect(cleanup.deletedCount).toBe(1);

    const events = await all.waitFor(8);
    expect(summary(events)).toEqual([
      ["CREATED", "call-a", "INITIATED"],
      ["CREATED", "call-b", "INITIATED"],
      ["UPDATED", "call-a", "ACTIVE"],
      ["UPDATED", "call-a", "ACTIVE"],
      ["RESUMED", "call-a", "ACTIVE"],
      ["ENDED", "call-a", "ENDED"],
      ["DELETED", "call-b", "UNSPECIFIED"],
      ["DELETED", "call-a", "UNSPECIFIED"],
    ]);
    // BASIC: the children are never in an event, and the session is as the write left it.
    for (const e of all.events) {
      expect(e.session?.conversationHistory).toEqual([]);
      expect(e.session?.audioBuffer).toEqual([]);
      expect(Number(e.time?.seconds) * 1000).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    }
    expect(all.events[3]!.session?.currentTurn).toBe(3);
    expect(all.events[4]!.session?.ownerEpoch).toBe(2n);
    expect(all.events[4]!.session?.ownerId).toBe("bridge-2");
    expect(all.events[5]!.session?.endReason).toBe("caller hung up");

    await onlyA.waitFor(6);
    expect(summary(onlyA.events).map(([type, id]) => [type, id])).toEqual([
      ["CREATED", "call-a"],
      ["UPDATED", "call-a"],
      ["UPDATED", "call-a"],
      ["RESUMED", "call-a"],
      ["ENDED", "call-a"],
      ["DELETED", "call-a"],
    ]);
    // A status filter passes the events of sessions in that status, and every removal.
    await ended.waitFor(3);
    expect(summary(ended.events).map(([type, id]) => [type, id])).toEqual([
      ["ENDED", "call-a"],
      ["DELETED", "call-b"],
      ["DELETED", "call-a"],
    ]);
  });

  it("tells of a fenced write, and of what the sweeper expires", async () => {
    const s = await sidecar([...backends[backend]!(), "--max-session-age", "1s", "--cleanup-interval", "500ms"]);
    const client = s.client({ retry: false });
    const w = await watch(client);
    await client.createSession({ ownerId: "bridge-1", session: { conversationId: "idle-call" } });
    await client.resumeSession({ conversationId: "idle-call", ownerId: "bridge-2" });
    await expectRpcError(
      client.updateSession({ update: { conversationId: "idle-call", ownerEpoch: 1n, seq: 1n, updateMask: { paths: ["current_turn"] }, session: { currentTurn: 1 } } }),
      GrpcCode.FAILED_PRECONDITION,
      "SESSION_FENCED",
    );
    const ack = await streamedUpdate(client, { conversationId: "idle-call", ownerEpoch: 1n, seq: 2n, updateMask: { paths: ["current_turn"] }, session: { currentTurn: 1 } });
    expect({ code: ack.error?.code, reason: statusDetailsOf(ack.error!).errorInfo?.reason }).toEqual({ code: GrpcCode.FAILED_PRECONDITION, reason: "SESSION_FENCED" });
    const events = await w.waitFor(5);
    expect(summary(events).map(([type, id]) => [type, id])).toEqual([
      ["CREATED", "idle-call"],
      ["RESUMED", "idle-call"],
      ["FENCED", "idle-call"],
      ["FENCED", "idle-call"],
      ["EXPIRED", "idle-call"],
    ]);
    // FENCED names the owner that holds the call now.
    expect(events[2]!.session?.ownerEpoch).toBe(2n);
    expect(events[2]!.session?.ownerId).toBe("bridge-2");
  });
});

describe("WatchSessions across sidecars and tenants", () => {
  it("shows each of two sidecars on one Redis the other's events, once each, in order", async () => {
    const args = onRedis(`watch-pods-${process.pid}:`);
    const a = (await sidecar(args)).client({ retry: false });
    const b = (await sidecar(args)).client({ retry: false });
    const watchA = await watch(a);
    const watchB = await watch(b);

    await a.createSession({ ownerId: "pod-a", session: { conversationId: "moving" } });
    await streamedUpdate(a, { conversationId: "moving", ownerEpoch: 1n, seq: 1n, updateMask: { paths: ["status"] }, session: { status: SessionStatus.ACTIVE } });
    await b.resumeSession({ conversationId: "moving", ownerId: "pod-b" });
    await b.endSession({ conversationId: "moving", ownerEpoch: 2n });

    const expected = [
      ["CREATED", "moving", "INITIATED"],
      ["UPDATED", "moving", "ACTIVE"],
      ["RESUMED", "moving", "ACTIVE"],
      ["ENDED", "moving", "ENDED"],
    ];
    expect(summary(await watchA.waitFor(4))).toEqual(expected);
    expect(summary(await watchB.waitFor(4))).toEqual(expected);
    // Each event comes through the channel whole: every field of its session, and its time, as the sidecar that made it sent it.
    expect(watchB.events).toEqual(watchA.events);
    expect(watchA.events[1]!.session?.etag).not.toBe("");
    // Nothing more comes: a sidecar's own events, which the channel hands back to it, are not delivered twice.
    await sleep(300);
    expect(watchA.events).toHaveLength(4);
    expect(watchB.events).toHaveLength(4);
  });

  it("publishes nothing to Redis while no sidecar watches, and a watch opened then on another sidecar gets the next write", async () => {
    const prefix = `watch-quiet-${process.pid}:`;
    const channel = `${prefix}global:{global}:events`;
    const args = onRedis(prefix);
    const a = (await sidecar(args)).client({ retry: false });
    const b = (await sidecar(args)).client({ retry: false });
    const inspector = new Redis(redis.url);
    const monitor = await monitorRedis(redis.url);
    const published = () => monitor.commands.filter((command) => command[0]?.toLowerCase() === "publish" && command[1] === channel);
    try {
      await a.createSession({ ownerId: "pod-a", session: { conversationId: "unwatched" } });
      for (let seq = 1n; seq <= 20n; seq += 1n) {
        await streamedUpdate(a, { conversationId: "unwatched", ownerEpoch: 1n, seq, updateMask: { paths: ["current_turn"] }, session: { currentTurn: Number(seq) } });
      }
      // No sidecar subscribes to the events without a watcher, and the first PUBLISH that reached nobody was the last.
      const [, subscribers] = (await inspector.pubsub("NUMSUB", channel)) as [string, number];
      expect(subscribers).toBe(0);
      expect(published().length).toBeLessThanOrEqual(2);

      const onB = await watch(b, { conversationId: "unwatched" });
      await streamedUpdate(a, { conversationId: "unwatched", ownerEpoch: 1n, seq: 21n, updateMask: { paths: ["current_turn"] }, session: { currentTurn: 21 } });
      const events = await onB.waitFor(1, 3_000);
      expect(summary(events)).toEqual([["UPDATED", "unwatched", "INITIATED"]]);
      expect(events[0]!.session?.currentTurn).toBe(21);
    } finally {
      monitor.close();
      inspector.disconnect();
    }
  });

  it("opens a watch within about a second when another sidecar on the Redis does not answer, and logs that it did not", async () => {
    const args = onRedis(`watch-frozen-${process.pid}:`);
    const frozen = await sidecar(args);
    const b = await sidecar(args);
    // Stopped, not gone: its connections stay subscribed, so Redis counts it among those that must answer.
    process.kill(frozen.pid, "SIGSTOP");
    try {
      const started = Date.now();
      const onB = await watch(b.client({ retry: false }));
      const waited = Date.now() - started;
      expect(waited).toBeGreaterThanOrEqual(900);
      expect(waited).toBeLessThan(5_000);
      expect(b.logs.some((l) => l.level === 40 && l.unanswered === 1)).toBe(true);
      // The watch works for this sidecar's own events meanwhile.
      await b.client({ retry: false }).createSession({ ownerId: "b", session: { conversationId: "while-frozen" } });
      expect(summary(await onB.waitFor(1))).toEqual([["CREATED", "while-frozen", "INITIATED"]]);
    } finally {
      process.kill(frozen.pid, "SIGCONT");
    }
  });

  it("gets another sidecar's events again after Redis drops the subscriptions, though that sidecar's writes meanwhile reached nobody", async () => {
    const args = onRedis(`watch-dropped-${process.pid}:`);
    const a = (await sidecar(args)).client({ retry: false });
    const b = (await sidecar(args)).client({ retry: false });
    const onB = await watch(b, { conversationId: "through-drop" });
    await a.createSession({ ownerId: "pod-a", session: { conversationId: "through-drop" } });
    await onB.waitFor(1);

    // Only the subscribed connections go: the sidecars reconnect them after 100 ms, and A's
    // writes meanwhile are published to no subscriber, which would stop A publishing for good.
    const admin = new Redis(redis.url);
    try {
      expect(Number(await admin.client("KILL", "TYPE", "pubsub"))).toBeGreaterThanOrEqual(2);
    } finally {
      admin.disconnect();
    }
    let seq = 0n;
    const update = () => streamedUpdate(a, { conversationId: "through-drop", ownerEpoch: 1n, seq: (seq += 1n), updateMask: { paths: ["current_turn"] }, session: { currentTurn: Number(seq) } });
    for (const until = Date.now() + 300; Date.now() < until; ) await update();
    await sleep(1_500);
    await update();
    const last = Number(seq);
    const deadline = Date.now() + 5_000;
    while (onB.events.at(-1)?.session?.currentTurn !== last && Date.now() < deadline) await sleep(50);
    expect(onB.events.at(-1)?.session?.currentTurn).toBe(last);
  });

  it("shows a tenant only its own sessions, and refuses a watch without a known token", async () => {
    const s = await sidecar(["--storage", "memory", "--auth-tokens", "tok-acme-0123456789=acme:admin,tok-globex-0123456789=globex:admin"]);
    const acme = s.client({ token: "tok-acme-0123456789", retry: false });
    const globex = s.client({ token: "tok-globex-0123456789", retry: false });
    const acmeWatch = await watch(acme);
    const globexWatch = await watch(globex);
    const acmeCallWatch = await watch(acme, { conversationId: "shared-id" });

    await globex.createSession({ ownerId: "g", session: { conversationId: "shared-id" } });
    await globex.createSession({ ownerId: "g", session: { conversationId: "globex-only" } });
    await acme.createSession({ ownerId: "a", session: { conversationId: "shared-id" } });

    expect(summary(await acmeWatch.waitFor(1)).map(([t, id]) => [t, id])).toEqual([["CREATED", "shared-id"]]);
    expect(summary(await acmeCallWatch.waitFor(1)).map(([t, id]) => [t, id])).toEqual([["CREATED", "shared-id"]]);
    expect(summary(await globexWatch.waitFor(2)).map(([t, id]) => [t, id])).toEqual([
      ["CREATED", "shared-id"],
      ["CREATED", "globex-only"],
    ]);
    await sleep(200);
    expect(acmeWatch.events).toHaveLength(1);
    expect(acmeCallWatch.events).toHaveLength(1);
    expect(acmeWatch.events[0]!.session?.ownerId).toBe("a");

    for (const token of [undefined, "tok-wrong"]) {
      const stranger = s.client({ ...(token === undefined ? {} : { token }), retry: false });
      const err = await watching(stranger.watchSessions()).ended;
      expect({ code: err?.code, reason: errorReasonOf(err) }).toEqual({ code: GrpcCode.UNAUTHENTICATED, reason: "UNAUTHENTICATED" });
    }
  });

  it("refuses a watch with a malformed conversation id or an unknown status", async () => {
    const client = (await sidecar(["--storage", "memory"])).client({ retry: false });
    for (const request of [{ conversationId: "no spaces allowed" }, { statuses: [42 as SessionStatus] }]) {
      const err = await watching(client.watchSessions(request)).ended;
      expect({ code: err?.code, reason: errorReasonOf(err) }).toEqual({ code: GrpcCode.INVALID_ARGUMENT, reason: "INVALID_ARGUMENT" });
    }
  });

  it("cuts off a watcher that does not read with RESOURCE_EXHAUSTED, while writers and other watchers go on", async () => {
    // Resumes, because RESUMED events are never coalesced and a resume costs the same however many there were.
    const calls = 20;
    const resumesPerCall = 150;
    const s = await sidecar(["--storage", "memory", "--max-resume-attempts", String(resumesPerCall + 1)]);
    const client = s.client({ retry: false });
    for (let i = 0; i < calls; i++) await client.createSession({ ownerId: "b", session: { conversationId: `busy-${i}` } });
    const slow = await unreadWatch(s.address);
    const reader = await watch(client);

    // One writer per call, each resume timed: a watcher must never make them wait.
    const latencies: number[] = [];
    await Promise.all(
      Array.from({ length: calls }, async (_, i) => {
        for (let n = 0; n < resumesPerCall; n++) {
          const started = performance.now();
          await client.resumeSession({ conversationId: `busy-${i}`, ownerId: `b-${n}` });
          latencies.push(performance.now() - started);
        }
      }),
    );
    const total = calls * resumesPerCall;
    await reader.waitFor(total, 30_000);

    const cut = await slow.readAll();
    expect({ code: cut.code, reason: cut.reason }).toEqual({ code: GrpcCode.RESOURCE_EXHAUSTED, reason: "WATCH_TOO_SLOW" });
    // What it got before the cut-off is what every watcher got, in the same order; it was cut off well before the end.
    const key = (e: WatchSessionsResponse) => `${e.session?.conversationId}@${e.session?.ownerEpoch}`;
    expect(cut.events.length).toBeGreaterThan(0);
    expect(cut.events.length).toBeLessThan(total);
    expect(cut.events.map(key)).toEqual(reader.events.slice(0, cut.events.length).map(key));
    // Writers kept being answered promptly all along: no resume waited for the stalled watcher.
    expect(latencies).toHaveLength(total);
    expect(Math.max(...latencies)).toBeLessThan(2_000);
    // The reading watcher was never cut off, and writes after the cut-off still reach it.
    await client.createSession({ ownerId: "b", session: { conversationId: "after-cut-off" } });
    await reader.waitFor(total + 1);
    expect(reader.events.at(-1)?.session?.conversationId).toBe("after-cut-off");
    expect(s.logs.some((l) => l.method === "WatchSessions" && l.reason === "WATCH_TOO_SLOW" && l.level === 40)).toBe(true);
  }, 60_000);

  it("ends watches with UNAVAILABLE at shutdown; a new watch on the restarted sidecar gets new events", async () => {
    const port = await freePort();
    const dbPath = tempDbPath();
    const args = ["--storage", "sqlite", "--listen", `127.0.0.1:${port}`];
    const first = await sidecar(args, dbPath);
    // A client of its own, as a monitor has: it outlives the sidecar process.
    const client = new SessionStoreClient(first.address, { retry: false });
    try {
      const w = await watch(client);
      await client.createSession({ ownerId: "b", session: { conversationId: "before-restart" } });
      await w.waitFor(1);
      await first.stop();
      const err = await w.ended;
      expect({ code: err?.code, reason: errorReasonOf(err) }).toEqual({ code: GrpcCode.UNAVAILABLE, reason: "SHUTTING_DOWN" });

      await sidecar(args, dbPath);
      await client.waitForReady(10_000);
      const again = await watch(client);
      await client.resumeSession({ conversationId: "before-restart", ownerId: "b2" });
      expect(summary(await again.waitFor(1))).toEqual([["RESUMED", "before-restart", "ACTIVE"]]);
    } finally {
      client.close();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
