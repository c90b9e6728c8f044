import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/runtime/clock.js";
import { SessionSchema } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { defaultRules } from "../../src/session/rules.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { startSidecar, tempDbPath } from "../support/sidecar-process.js";

const HOUR_MS = 3_600_000;

// The plan's cleanup case over gRPC. A real sidecar runs on the real clock, so
// the 25-hour-old session is written into its database file beforehand,
// through the store with a clock set 25 hours back.
describe("CleanupSessions over gRPC", () => {
  it("with max_age 24h removes a 25h-old session and keeps a recent one", async () => {
    const dbPath = tempDbPath();
    const past = await SqliteStore.open({ path: dbPath, rules: defaultRules, clock: new ManualClock(new Date(Date.now() - 25 * HOUR_MS)) });
    await past.create("default", create(SessionSchema, { conversationId: "old-123" }), "bridge-a");
    await past.close();

    // A long sweep interval, so that only the RPC below cleans up.
    const sidecar = await startSidecar({ dbPath, args: ["--cleanup-interval", "1h"] });
    const client = sidecar.client();
    await client.createSession({ session: { conversationId: "recent-123" } });
    // Expired sessions are hidden from reads before any cleanup runs.
    await expectRpcError(client.getSession({ conversationId: "old-123" }), status.NOT_FOUND, "SESSION_NOT_FOUND");

    const dryRun = await client.cleanupSessions({ maxAge: { seconds: BigInt(24 * 3600) }, dryRun: true });
    expect(dryRun.deletedCount).toBe(1);
    const cleaned = await client.cleanupSessions({ maxAge: { seconds: BigInt(24 * 3600) } });
    expect(cleaned.deletedCount).toBe(1);
    expect((await client.getSession({ conversationId: "recent-123" })).session?.conversationId).toBe("recent-123");
    expect((await client.getStats()).cleanupCount).toBe(1n);
    // Gone, not merely hidden: a second look finds nothing left to clean.
    expect((await client.cleanupSessions({ maxAge: { seconds: BigInt(24 * 3600) }, dryRun: true })).deletedCount).toBe(0);
    await sidecar.stop();
  });
});
