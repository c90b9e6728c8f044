import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { SessionEventType, SessionStatus, SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { watch } from "../support/session-watch.js";
import { startSidecar } from "../support/sidecar-process.js";

// The sweeper runs on the real clock here: a grace of one second and a sweep
// every 200 ms end a paused call within a couple of seconds. Nothing below
// asserts how long that took; the watch waits for the event instead.
describe("--pause-grace against a real sidecar", () => {
  it("ends a call PAUSED past the grace as abandoned, sends ENDED to watchers and frees its max-sessions place", async () => {
    const sidecar = await startSidecar({ args: ["--pause-grace", "1s", "--cleanup-interval", "200ms", "--max-sessions", "2"] });
    try {
      const client = sidecar.client();
      const events = await watch(client, { conversationId: "dropped-call" });
      await client.createSession({ session: { conversationId: "dropped-call", bridgeType: "audiocodes" }, ownerId: "bridge-a" });
      await client.createSession({ session: { conversationId: "live-call", bridgeType: "audiocodes" }, ownerId: "bridge-a" });
      await client.updateSession({ update: { conversationId: "live-call", updateMask: { paths: ["status"] }, session: { status: SessionStatus.ACTIVE } } });
      await expectRpcError(client.createSession({ session: { conversationId: "third-call" } }), status.RESOURCE_EXHAUSTED, "MAX_SESSIONS");
      // The bridge lost the platform socket; no reconnect comes.
      await client.updateSession({ update: { conversationId: "dropped-call", updateMask: { paths: ["status"] }, session: { status: SessionStatus.PAUSED } } });

      const seen = await events.waitFor(3, 15_000);
      expect(seen.map((e) => [SessionEventType[e.type], e.session?.endReason])).toEqual([["CREATED", ""], ["UPDATED", ""], ["ENDED", "abandoned"]]);
      const ended = (await client.getSession({ conversationId: "dropped-call", view: SessionView.BASIC })).session;
      expect(ended).toMatchObject({ status: SessionStatus.ENDED, endReason: "abandoned" });
      expect((await client.getSession({ conversationId: "live-call", view: SessionView.BASIC })).session?.status).toBe(SessionStatus.ACTIVE);
      await client.createSession({ session: { conversationId: "third-call" } });
      // A reconnect after the grace is refused as for any ended call.
      await expectRpcError(client.resumeSession({ conversationId: "dropped-call", ownerId: "bridge-b" }), status.FAILED_PRECONDITION, "SESSION_ENDED");
      const line = sidecar.logs.find((l) => l.msg?.startsWith("ended abandoned sessions"));
      expect(line).toMatchObject({ ended: 1, end_reason: "abandoned" });
    } finally {
      await sidecar.stop();
    }
  });
});
