import { describe, expect, it } from "vitest";
import { SessionStatus } from "../../src/client/index.js";
import { startSidecar, tempDbPath } from "../support/sidecar-process.js";

// State outlives the sidecar process: a clean stop, and a SIGKILL right after OK.
describe("restart", () => {
  it("keeps every session, child and counter across a clean stop and start", async () => {
    const dbPath = tempDbPath();
    const first = await startSidecar({ dbPath });
    const client = first.client();
    await client.createSession({ session: { conversationId: "call-1", caller: "+15550101", metadata: { plan: "gold", vip: true } } });
    await client.resumeSession({ conversationId: "call-1", ownerId: "bridge-a" });
    await client.updateSession({
      update: {
        conversationId: "call-1",
        seq: 1n,
        appendHistory: [{ itemId: "u1", role: "user", text: "hi" }],
        upsertFunctionCalls: [{ callId: "f1", functionName: "lookup", arguments: "{}" }],
        appendAudio: [{ data: new Uint8Array([1, 2, 3, 250]) }],
      },
    });
    await client.createSession({ session: { conversationId: "call-2" } });
    await client.endSession({ conversationId: "call-2", reason: "done" });
    await client.resumeSession({ conversationId: "missing" }).catch(() => undefined);
    const before = await Promise.all(["call-1", "call-2"].map((id) => client.getSession({ conversationId: id })));
    const statsBefore = await client.getStats();
    expect(await first.stop("SIGTERM")).toEqual({ code: 0, signal: null });

    const second = await startSidecar({ dbPath });
    const again = second.client();
    const after = await Promise.all(["call-1", "call-2"].map((id) => again.getSession({ conversationId: id })));
    expect(after).toEqual(before);
    expect(await again.getStats()).toEqual(statsBefore);
    expect(statsBefore.failedResumes).toBe(1n);
    await second.stop();
  });

  it("keeps a write acknowledged just before the process was killed with SIGKILL", async () => {
    const dbPath = tempDbPath();
    const first = await startSidecar({ dbPath });
    const client = first.client();
    await client.createSession({ session: { conversationId: "kill-1" } });
    for (let seq = 1n; seq <= 50n; seq++) {
      await client.updateSession({ update: { conversationId: "kill-1", seq, appendHistory: [{ itemId: `h${seq}` }], appendAudio: [{ data: new Uint8Array(320).fill(Number(seq)) }] } });
    }
    const killed = await first.stop("SIGKILL");
    expect(killed.signal).toBe("SIGKILL");

    const second = await startSidecar({ dbPath });
    const { session } = await second.client().getSession({ conversationId: "kill-1" });
    expect(session?.lastSeq).toBe(50n);
    expect(session?.conversationHistory.map((h) => h.itemId).at(-1)).toBe("h50");
    expect(session?.audioBuffer.at(-1)?.data[0]).toBe(50);
    expect(session?.status).toBe(SessionStatus.INITIATED);
    await second.stop();
  });
});
