import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionStatus, type SessionStoreClient } from "../../src/client/index.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { startSidecar, type Sidecar } from "../support/sidecar-process.js";

// Fencing, idempotency, etags and the ENDED tombstone, as a bridge meets them over gRPC.
describe("write rules over gRPC", () => {
  let sidecar: Sidecar;
  let client: SessionStoreClient;

  beforeAll(async () => {
    sidecar = await startSidecar();
    client = sidecar.client();
  });
  afterAll(async () => {
    await sidecar.stop();
  });

  it("fences the first owner after a second resume, and its write changes nothing", async () => {
    await client.createSession({ session: { conversationId: "fence-1" } });
    const a = await client.resumeSession({ conversationId: "fence-1", ownerId: "bridge-a" });
    const b = await client.resumeSession({ conversationId: "fence-1", ownerId: "bridge-b" });
    const before = await client.getSession({ conversationId: "fence-1" });
    const { details } = await expectRpcError(
      client.updateSession({
        update: { conversationId: "fence-1", ownerEpoch: a.session!.ownerEpoch, appendHistory: [{ role: "user", text: "late write" }] },
      }),
      status.FAILED_PRECONDITION,
      "SESSION_FENCED",
    );
    expect(details.errorInfo?.metadata.owner_epoch).toBe(String(b.session!.ownerEpoch));
    expect(details.errorInfo?.metadata.owner_id).toBe("bridge-b");
    expect(details.preconditionFailure?.violations[0]?.type).toBe("OWNER_EPOCH");
    const after = await client.getSession({ conversationId: "fence-1" });
    expect(after.session).toEqual(before.session);
    await expectRpcError(client.endSession({ conversationId: "fence-1", ownerEpoch: a.session!.ownerEpoch }), status.FAILED_PRECONDITION, "SESSION_FENCED");
    const ok = await client.updateSession({ update: { conversationId: "fence-1", ownerEpoch: b.session!.ownerEpoch, appendHistory: [{ text: "owner write" }] } });
    expect(ok.applied).toBe(true);
  });

  it("applies an update re-sent with the same seq once", async () => {
    await client.createSession({ session: { conversationId: "seq-1" } });
    const update = { conversationId: "seq-1", seq: 1n, appendHistory: [{ itemId: "h1", text: "hello" }], updateMask: { paths: ["current_turn"] }, session: { currentTurn: 1 } };
    const first = await client.updateSession({ update });
    const again = await client.updateSession({ update });
    expect([first.applied, again.applied]).toEqual([true, false]);
    expect(again.session?.etag).toBe(first.session?.etag);
    expect(again.session?.lastSeq).toBe(1n);
    const { session } = await client.getSession({ conversationId: "seq-1" });
    expect(session?.conversationHistory.map((h) => h.itemId)).toEqual(["h1"]);
  });

  it("refuses a write with a stale etag with ABORTED and keeps the session", async () => {
    const { session: created } = await client.createSession({ session: { conversationId: "etag-1" } });
    const { session: updated } = await client.updateSession({ update: { conversationId: "etag-1", etag: created!.etag, updateMask: { paths: ["caller"] }, session: { caller: "alice" } } });
    expect(updated?.etag).not.toBe(created?.etag);
    const { details } = await expectRpcError(
      client.updateSession({ update: { conversationId: "etag-1", etag: created!.etag, updateMask: { paths: ["caller"] }, session: { caller: "mallory" } } }),
      status.ABORTED,
      "ETAG_MISMATCH",
    );
    expect(details.errorInfo?.metadata.etag).toBe(updated?.etag);
    expect((await client.getSession({ conversationId: "etag-1" })).session?.caller).toBe("alice");
    await expectRpcError(client.deleteSession({ conversationId: "etag-1", etag: created!.etag }), status.ABORTED, "ETAG_MISMATCH");
    await client.deleteSession({ conversationId: "etag-1", etag: updated!.etag });
  });

  it("refuses writes to an ENDED session; ending again returns it unchanged", async () => {
    await client.createSession({ session: { conversationId: "end-1" } });
    const ended = await client.endSession({ conversationId: "end-1", reason: "hangup" });
    await expectRpcError(
      client.updateSession({ update: { conversationId: "end-1", appendHistory: [{ text: "after the end" }] } }),
      status.FAILED_PRECONDITION,
      "SESSION_ENDED",
    );
    const again = await client.endSession({ conversationId: "end-1", reason: "other" });
    expect(again.session).toEqual(ended.session);
    await expectRpcError(client.createSession({ session: { conversationId: "end-1" } }), status.ALREADY_EXISTS, "SESSION_EXISTS");
  });

  it("refuses a lifecycle move that is not allowed", async () => {
    await client.createSession({ session: { conversationId: "life-1" } });
    await client.resumeSession({ conversationId: "life-1" });
    await expectRpcError(
      client.updateSession({ update: { conversationId: "life-1", updateMask: { paths: ["status"] }, session: { status: SessionStatus.INITIATED } } }),
      status.FAILED_PRECONDITION,
      "INVALID_TRANSITION",
    );
    await expectRpcError(
      client.updateSession({ update: { conversationId: "life-1", updateMask: { paths: ["status"] }, session: { status: SessionStatus.ENDED } } }),
      status.FAILED_PRECONDITION,
      "INVALID_TRANSITION",
    );
  });

  it("lists live sessions by default, pages stably, and filters by status", async () => {
    const ids = Array.from({ length: 23 }, (_, i) => `list-${String(i).padStart(2, "0")}`);
    for (const id of ids) await client.createSession({ session: { conversationId: id, bridgeType: "twilio" } });
    await client.endSession({ conversationId: "list-05" });
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await client.listSessions({ pageSize: 7, pageToken, bridgeType: "twilio" });
      expect(page.sessions.length).toBeLessThanOrEqual(7);
      seen.push(...page.sessions.map((s) => s.conversationId));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(seen).toEqual(ids.filter((id) => id !== "list-05"));
    const ended = await client.listSessions({ statuses: [SessionStatus.ENDED], bridgeType: "twilio" });
    expect(ended.sessions.map((s) => s.conversationId)).toEqual(["list-05"]);
    expect(ended.sessions[0]?.conversationHistory).toEqual([]);
  });

  it("reports stats for the plan's metrics", async () => {
    const stats = await client.getStats();
    expect(stats.totalSessions).toBeGreaterThan(stats.activeSessions);
    expect(stats.resumedSessions).toBeGreaterThanOrEqual(2n);
    const ended = stats.statusCounts.find((c) => c.status === SessionStatus.ENDED);
    expect(ended?.count).toBeGreaterThanOrEqual(2n);
  });
});
