import { connect } from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import Database from "better-sqlite3";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionStoreClient } from "../../src/client/index.js";
import {
  SessionSchema,
  type StreamUpdateBatchesResponse,
  StreamUpdateBatchesRequestSchema,
  type UpdateAck,
} from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import { runCli, type Sidecar, startSidecar, tempDbPath } from "../support/sidecar-process.js";
import { ackBadFields, ackReason, openUpdateStream } from "../support/update-stream-raw.js";

// Small limits, so a few short items reach them.
const LIMITS = { history: 2000, items: 3, itemBytes: 600, header: 4096 };
const LIMIT_ARGS = [
  "--max-history-bytes", String(LIMITS.history),
  "--max-items-per-update", String(LIMITS.items),
  "--max-item-bytes", String(LIMITS.itemBytes),
  "--max-header-bytes", String(LIMITS.header),
];

// About 430 bytes encoded: four fit in the history limit, five do not.
const item = (itemId: string, length = 400) => ({ itemId, role: "user", type: "message", text: "x".repeat(length) });

function ackOutcome(ack: UpdateAck): [bigint, number, string | undefined] {
  return [ack.seq, ack.error?.code ?? 0, ackReason(ack)];
}

describe.each(["sqlite", "memory", "redis"] as const)("size limits set by flags, %s", (storage) => {
  let redis: RedisServer | undefined;
  let sidecar: Sidecar;
  let client: SessionStoreClient;
  const dbPath = tempDbPath();
  const start = async () => {
    const args = [...LIMIT_ARGS, "--storage", storage, ...(redis ? ["--redis-url", redis.url] : [])];
    sidecar = await startSidecar({ dbPath, args });
    client = sidecar.client();
  };

  beforeAll(async () => {
    if (storage === "redis") redis = await startRedisServer();
    await start();
  });
  afterAll(async () => {
    await sidecar.stop();
    await redis?.stop();
  });

  it("refuses history past --max-history-bytes on every write path, answers the rest of a stream, and stores nothing refused", async () => {
    await client.createSession({ session: { conversationId: "h-1" } });
    await client.updateSession({ update: { conversationId: "h-1", appendHistory: [item("a"), item("b"), item("c")] } });
    const { session: held } = await client.updateSession({ update: { conversationId: "h-1", appendHistory: [item("d")] } });
    expect(held?.historyBytes).toBeGreaterThan(4n * 400n);

    const { details } = await expectRpcError(
      client.updateSession({ update: { conversationId: "h-1", appendHistory: [item("e")] } }),
      status.RESOURCE_EXHAUSTED,
      "LIMIT_EXCEEDED",
    );
    expect(details.errorInfo?.metadata).toMatchObject({ limit: "max_history_bytes", value: String(LIMITS.history), history_bytes: String(held?.historyBytes) });

    // StreamUpdates: the refused update gets an error ack, the next one is applied.
    const stream = openUpdateStream(sidecar.address);
    await stream.send({ conversationId: "h-1", seq: 1n, appendHistory: [item("e")] });
    await stream.send({ conversationId: "h-1", seq: 2n, appendAudio: [{ data: new Uint8Array([1, 2, 3]) }] });
    const acks = await stream.waitForAcks(2);
    expect(acks.map(ackOutcome)).toEqual([
      [1n, status.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED"],
      [2n, 0, undefined],
    ]);
    stream.close();

    // StreamUpdateBatches: one item too big and one update with too many are INVALID_ARGUMENT, each on its own.
    const batches = client.openUpdateBatchStream();
    const received: UpdateAck[] = [];
    const three = new Promise<void>((resolve) =>
      batches.on("data", (response: StreamUpdateBatchesResponse) => {
        received.push(...response.acks);
        if (received.length >= 3) resolve();
      }),
    );
    batches.on("error", () => undefined);
    const request = create(StreamUpdateBatchesRequestSchema, {
      updates: [
        { conversationId: "h-1", seq: 3n, appendHistory: [item("small", 10), item("big", 700)] },
        { conversationId: "h-1", seq: 4n, appendHistory: [item("1", 1), item("2", 1)], upsertFunctionCalls: [{ callId: "c1" }, { callId: "c2" }] },
        { conversationId: "h-1", seq: 5n, appendAudio: [{ data: new Uint8Array([4]) }] },
      ],
    });
    batches.write(toBinary(StreamUpdateBatchesRequestSchema, request));
    await three;
    batches.end();
    expect(received.map(ackOutcome)).toEqual([
      [3n, status.INVALID_ARGUMENT, "INVALID_ARGUMENT"],
      [4n, status.INVALID_ARGUMENT, "INVALID_ARGUMENT"],
      [5n, 0, undefined],
    ]);
    expect(received.slice(0, 2).map(ackBadFields)).toEqual([["append_history[1]"], ["append_history"]]);

    const { session } = await client.getSession({ conversationId: "h-1" });
    expect(session?.conversationHistory.map((i) => i.itemId)).toEqual(["a", "b", "c", "d"]);
    expect([session?.historyBytes, session?.lastSeq, session?.audioBuffer.length]).toEqual([held?.historyBytes, 5n, 2]);
  });

  it("refuses a create over --max-items-per-update, --max-item-bytes or --max-header-bytes, and creates nothing", async () => {
    const tooMany = await expectRpcError(
      client.createSession({ session: { conversationId: "c-1", conversationHistory: [item("1", 1), item("2", 1), item("3", 1), item("4", 1)] } }),
      status.INVALID_ARGUMENT,
      "INVALID_ARGUMENT",
    );
    expect(tooMany.details.errorInfo?.metadata).toEqual({ limit: "max_items_per_update", value: String(LIMITS.items) });
    expect(tooMany.details.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["conversation_history"]);

    const tooBig = await expectRpcError(
      client.createSession({ session: { conversationId: "c-1", functionCalls: [{ callId: "c1", result: "r".repeat(700) }] } }),
      status.INVALID_ARGUMENT,
      "INVALID_ARGUMENT",
    );
    expect(tooBig.details.errorInfo?.metadata).toEqual({ limit: "max_item_bytes", value: String(LIMITS.itemBytes) });
    expect(tooBig.details.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["function_calls[0]"]);

    const header = await expectRpcError(
      client.createSession({ session: { conversationId: "c-1", metadata: { notes: "n".repeat(LIMITS.header) } } }),
      status.RESOURCE_EXHAUSTED,
      "LIMIT_EXCEEDED",
    );
    expect(header.details.errorInfo?.metadata).toMatchObject({ limit: "max_header_bytes", value: String(LIMITS.header) });
    await expectRpcError(client.getSession({ conversationId: "c-1" }), status.NOT_FOUND, "SESSION_NOT_FOUND");
  });

  it("refuses a CleanupSessions max_age outside google.protobuf.Duration's range, and accepts its largest", async () => {
    await client.createSession({ session: { conversationId: "old-1" } });
    for (const [maxAge, field] of [
      [{ seconds: 2n ** 53n }, "max_age.seconds"],
      [{ seconds: 315_576_000_001n }, "max_age.seconds"],
      [{ seconds: -1n }, "max_age.seconds"],
      [{ seconds: 10n, nanos: -1 }, "max_age.nanos"],
    ] as const) {
      const { details } = await expectRpcError(client.cleanupSessions({ maxAge }), status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
      expect(details.badRequest?.fieldViolations.map((v) => v.field)).toEqual([field]);
      expect(details.badRequest?.fieldViolations[0]?.description).toMatch(/must be 0 to \d+/);
    }
    const largest = await client.cleanupSessions({ maxAge: { seconds: 315_576_000_000n, nanos: 999_999_999 } });
    expect(largest.deletedCount).toBe(0);
    await client.getSession({ conversationId: "old-1" });
  });

  // The memory store keeps nothing across a restart, so there is nothing to check there.
  if (storage !== "memory") {
    it("keeps each session's history bytes across a restart, and the limit with them", async () => {
      const { session: before } = await client.getSession({ conversationId: "h-1" });
      await sidecar.stop();
      await start();
      const { session: after } = await client.getSession({ conversationId: "h-1" });
      expect(after?.historyBytes).toBe(before?.historyBytes);
      await expectRpcError(client.updateSession({ update: { conversationId: "h-1", appendHistory: [item("e")] } }), status.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED");
      await client.updateSession({ update: { conversationId: "h-1", appendHistory: [item("short", 10)] } });
    });
  }
});

describe("a session stored before history_bytes existed", () => {
  it("counts from zero: its history stays, and the limit applies to what it is written from now on", async () => {
    const dbPath = tempDbPath();
    const args = ["--max-history-bytes", "1500"];
    let sidecar = await startSidecar({ dbPath, args });
    let client = sidecar.client();
    await client.createSession({ session: { conversationId: "old-1", conversationHistory: [item("a"), item("b"), item("c")] } });
    await sidecar.stop();
    // What an older sidecar wrote: the same header without the counter.
    const db = new Database(dbPath);
    const row = db.prepare("SELECT header FROM sessions WHERE conversation_id = 'old-1'").get() as { header: Buffer };
    const header = fromBinary(SessionSchema, new Uint8Array(row.header));
    expect(header.historyBytes).toBeGreaterThan(1000n);
    db.prepare("UPDATE sessions SET header = ? WHERE conversation_id = 'old-1'").run(Buffer.from(toBinary(SessionSchema, { ...header, historyBytes: 0n })));
    db.close();

    sidecar = await startSidecar({ dbPath, args });
    client = sidecar.client();
    try {
      const { session: before } = await client.getSession({ conversationId: "old-1" });
      expect([before?.historyBytes, before?.conversationHistory.length]).toEqual([0n, 3]);
      await client.updateSession({ update: { conversationId: "old-1", appendHistory: [item("d"), item("e"), item("f")] } });
      await expectRpcError(client.updateSession({ update: { conversationId: "old-1", appendHistory: [item("g")] } }), status.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED");
      const { session: after } = await client.getSession({ conversationId: "old-1" });
      expect(after?.conversationHistory.map((i) => i.itemId)).toEqual(["a", "b", "c", "d", "e", "f"]);
    } finally {
      await sidecar.stop();
    }
  });
});

describe("numbers out of range", () => {
  let sidecar: Sidecar;
  let client: SessionStoreClient;
  beforeAll(async () => {
    sidecar = await startSidecar();
    client = sidecar.client();
    await client.createSession({ session: { conversationId: "n-1" } });
  });
  afterAll(async () => {
    const { session } = await client.getSession({ conversationId: "n-1" });
    expect([session?.currentTurn, session?.lastSeq, session?.status]).toEqual([0, 0n, 1]);
    await sidecar.stop();
  });

  it.each([
    ["UpdateSession seq", () => client.updateSession({ update: { conversationId: "n-1", seq: -1n } }), "update.seq", "is -1; must be 0 to 9223372036854775807"],
    ["UpdateSession owner_epoch", () => client.updateSession({ update: { conversationId: "n-1", ownerEpoch: -5n } }), "update.owner_epoch", "is -5; must be 0 to 9223372036854775807"],
    ["UpdateSession current_turn", () => client.updateSession({ update: { conversationId: "n-1", updateMask: { paths: ["current_turn"] }, session: { currentTurn: -1 } } }), "update.session.current_turn", "is -1; must be 0 to 2147483647"],
    ["CreateSession error_count", () => client.createSession({ session: { conversationId: "n-2", errorCount: -2 } }), "session.error_count", "is -2; must be 0 to 2147483647"],
    ["EndSession owner_epoch", () => client.endSession({ conversationId: "n-1", ownerEpoch: -1n }), "owner_epoch", "is -1; must be 0 to 9223372036854775807"],
    ["ListSessions page_size", () => client.listSessions({ pageSize: -1 }), "page_size", "is -1; must be 0 to 2147483647 (0 means 100, over 1000 means 1000)"],
  ])("refuses a negative %s, naming the field and its range", async (_name, call, field, description) => {
    const { details } = await expectRpcError(call(), status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(details.badRequest?.fieldViolations.map((v) => ({ field: v.field, description: v.description }))).toEqual([{ field, description }]);
  });

  it("reads a page_size over 1000 as 1000", async () => {
    const { sessions } = await client.listSessions({ pageSize: 2_000_000_000 });
    expect(sessions.map((s) => s.conversationId)).toEqual(["n-1"]);
  });
});

describe("--max-concurrent-streams and --http2-receive-window", () => {
  let sidecar: Sidecar;
  beforeAll(async () => {
    sidecar = await startSidecar({ args: ["--max-concurrent-streams", "7", "--http2-receive-window", "3000000"] });
  });
  afterAll(async () => {
    await sidecar.stop();
  });

  it("are what the sidecar announces to every HTTP/2 connection: streams at once, how far each may send ahead of its reading, and twice that the connection", async () => {
    const session = connect(`http://${sidecar.address}`);
    const settings = await new Promise<{ maxConcurrentStreams?: number; initialWindowSize?: number }>((resolve, reject) => {
      session.once("remoteSettings", resolve);
      session.once("error", reject);
    });
    // The connection's window comes as a WINDOW_UPDATE after the SETTINGS; a ping's answer comes after both.
    await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    const connectionWindow = session.state.remoteWindowSize;
    session.close();
    expect(settings.maxConcurrentStreams).toBe(7);
    expect(settings.initialWindowSize).toBe(3_000_000);
    expect(connectionWindow).toBe(6_000_000);
  });

  it("still serves more calls than the streams allowed at once, a few at a time", async () => {
    const client = sidecar.client();
    const ids = Array.from({ length: 30 }, (_, i) => `s-${i}`);
    await Promise.all(ids.map((id) => client.createSession({ session: { conversationId: id } })));
    const { sessions } = await client.listSessions({ pageSize: 100 });
    expect(sessions).toHaveLength(30);
  });
});

describe("--help", () => {
  it("documents every limit with its default", async () => {
    const { stdout } = await runCli(["serve", "--help"]);
    for (const [flag, value] of [
      ["--max-history-bytes", "1048576"],
      ["--max-items-per-update", "1000"],
      ["--max-item-bytes", "262144"],
      ["--max-header-bytes", "65536"],
      ["--max-concurrent-streams", "1000"],
      ["--http2-receive-window", "1048576"],
    ]) {
      expect(stdout.replace(/\s+/g, " ")).toMatch(new RegExp(`${flag} <[a-z]+> .*?\\(default: ${value}; env SESSIONSTORE_`));
    }
  });
});
