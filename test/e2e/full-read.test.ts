import { equals } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Session, SessionSchema, type SessionStoreClient, SessionView } from "../../src/client/index.js";
import { openReader } from "../../src/store/sqlite/open-database.js";
import { SessionTables } from "../../src/store/sqlite/session-tables.js";
import { startSidecar, type Sidecar, tempDbPath } from "../support/sidecar-process.js";

/**
 * GetSession and ResumeSession FULL on SQLite send the stored history items
 * as they are (Store.getFullEncoded, Store.resumeEncoded); what a client
 * decodes must be exactly the session a decode of every stored row gives,
 * for a call with every kind of child.
 */
describe("FULL reads on SQLite, sent from the stored bytes", () => {
  const path = tempDbPath();
  let sidecar: Sidecar;
  let client: SessionStoreClient;

  beforeAll(async () => {
    sidecar = await startSidecar({ dbPath: path });
    client = sidecar.client();
    await client.createSession({ session: { conversationId: "long-1", bridgeType: "audiocodes", metadata: { lang: "en" } } });
    for (let turn = 0; turn < 20; turn++) {
      await client.updateSession({
        update: {
          conversationId: "long-1",
          appendHistory: [
            { itemId: `u${turn}`, role: "user", type: "message", text: `question ${turn} — ünïcode` },
            { itemId: `a${turn}`, role: "assistant", type: "message", text: `answer ${turn}` },
          ],
          appendAudio: [{ data: Uint8Array.from({ length: 320 + turn }, (_, i) => (i * 7 + turn) % 256) }],
          // The same call twice: the stored created_at stays the first one's.
          upsertFunctionCalls: [{ callId: `call-${turn % 3}`, functionName: "lookup", arguments: `{"turn":${turn}}`, status: "completed" }],
        },
      });
    }
  }, 30_000);

  afterAll(async () => {
    await sidecar?.stop();
  });

  /** The session as a decode of every stored row gives it. */
  function stored(conversationId: string): Session {
    const db = openReader(path);
    try {
      const tables = new SessionTables(db);
      return tables.withChildren("default", tables.read("default", conversationId)!.session);
    } finally {
      db.close();
    }
  }

  it("decodes to the same session as the stored rows, children in stored order", async () => {
    const { session } = await client.getSession({ conversationId: "long-1", view: SessionView.FULL });
    expect(equals(SessionSchema, session!, stored("long-1"))).toBe(true);
    expect(session!.conversationHistory.map((item) => item.itemId)).toEqual(Array.from({ length: 20 }, (_, t) => [`u${t}`, `a${t}`]).flat());
    expect(session!.functionCalls.map((call) => call.callId)).toEqual(["call-0", "call-1", "call-2"]);
    expect(session!.audioBuffer.map((chunk) => chunk.data.length)).toEqual(Array.from({ length: 20 }, (_, t) => 320 + t));
    expect(session!.metadata).toEqual({ lang: "en" });
  });

  it("resumes in the FULL view with the session as stored after the resume", async () => {
    const { session, created } = await client.resumeSession({ conversationId: "long-1", ownerId: "pod-b", view: SessionView.FULL });
    expect(created).toBe(false);
    expect(session!.ownerEpoch).toBe(2n);
    expect(session!.ownerId).toBe("pod-b");
    expect(equals(SessionSchema, session!, stored("long-1"))).toBe(true);
    expect(session!.conversationHistory).toHaveLength(40);
  });

  it("creates a missing session on a FULL resume and says so, with its initial children", async () => {
    const { session, created } = await client.resumeSession({
      conversationId: "fresh-1",
      ownerId: "pod-b",
      createIfMissing: true,
      session: { conversationId: "fresh-1", conversationHistory: [{ itemId: "s0", role: "system", type: "message", text: "be brief" }] },
    });
    expect(created).toBe(true);
    expect(session!.conversationHistory.map((item) => item.itemId)).toEqual(["s0"]);
    expect(equals(SessionSchema, session!, stored("fresh-1"))).toBe(true);
    const { session: basic } = await client.resumeSession({ conversationId: "fresh-1", ownerId: "pod-c", view: SessionView.BASIC });
    expect(basic!.conversationHistory).toHaveLength(0);
  });

  it("answers the unspecified view as FULL and BASIC without children", async () => {
    const { session: unspecified } = await client.getSession({ conversationId: "long-1" });
    expect(unspecified!.conversationHistory).toHaveLength(40);
    const { session: basic } = await client.getSession({ conversationId: "long-1", view: SessionView.BASIC });
    expect(basic!.conversationHistory).toHaveLength(0);
    expect(basic!.audioBuffer).toHaveLength(0);
  });
});
