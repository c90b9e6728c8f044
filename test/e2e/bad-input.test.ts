import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionStatus, SessionStoreClient } from "../../src/client/index.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { runCli, startSidecar, tempDbPath, type Sidecar } from "../support/sidecar-process.js";

// Bad input gets an error that names what is wrong, and nothing stored changes.
describe("bad input", () => {
  let sidecar: Sidecar;
  let client: SessionStoreClient;

  beforeAll(async () => {
    sidecar = await startSidecar({ args: ["--max-message-bytes", "65536"] });
    client = sidecar.client();
    await client.createSession({ session: { conversationId: "keep-1", caller: "alice" } });
  });
  afterAll(async () => {
    // Whatever the bad requests were, the stored session is as it was.
    const { session } = await client.getSession({ conversationId: "keep-1" });
    expect([session?.caller, session?.conversationHistory.length, session?.lastSeq]).toEqual(["alice", 0, 0n]);
    await sidecar.stop();
  });

  it.each([
    ["empty", "", "is required"],
    ["too long", "x".repeat(129), "at most 128"],
    ["illegal characters", "call/1 OR 1=1", "only letters, digits"],
  ])("refuses a conversation_id that is %s, naming the field", async (_name, id, text) => {
    const { details } = await expectRpcError(client.createSession({ session: { conversationId: id } }), status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(details.badRequest?.fieldViolations[0]?.field).toBe("session.conversation_id");
    expect(details.badRequest?.fieldViolations[0]?.description).toContain(text);
    await expectRpcError(client.getSession({ conversationId: id }), status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
  });

  it("refuses an unknown status value and an unknown field-mask path", async () => {
    const { details } = await expectRpcError(
      client.updateSession({ update: { conversationId: "keep-1", updateMask: { paths: ["status", "created_at"] }, session: { status: 42 as SessionStatus } } }),
      status.INVALID_ARGUMENT,
      "INVALID_ARGUMENT",
    );
    expect(details.badRequest?.fieldViolations.map((v) => v.field).sort()).toEqual(["update.session.status", "update.update_mask"]);
  });

  it("refuses a tampered page token", async () => {
    for (let i = 0; i < 3; i++) await client.createSession({ session: { conversationId: `page-${i}` } });
    const { nextPageToken } = await client.listSessions({ pageSize: 1 });
    expect(nextPageToken).not.toBe("");
    const tampered = nextPageToken.slice(0, 5) + (nextPageToken[5] === "A" ? "B" : "A") + nextPageToken.slice(6);
    const { details } = await expectRpcError(client.listSessions({ pageSize: 1, pageToken: tampered }), status.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN");
    expect(details.badRequest?.fieldViolations[0]?.field).toBe("page_token");
    await expectRpcError(client.listSessions({ pageSize: 1, pageToken: nextPageToken, bridgeType: "other" }), status.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN");
  });

  it("refuses a request over --max-message-bytes with RESOURCE_EXHAUSTED", async () => {
    const error = await client
      .updateSession({ update: { conversationId: "keep-1", appendAudio: [{ data: new Uint8Array(100_000) }] } })
      .then(() => undefined, (err: { code: number; details: string }) => err);
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error?.details).toMatch(/larger than max/);
  });

  it("refuses to start on a file that is not a sessionstore database, and leaves it untouched", async () => {
    const dbPath = tempDbPath();
    writeFileSync(dbPath, Buffer.from("this is a caller's recording, not a database ".repeat(200)));
    const hash = () => createHash("sha256").update(readFileSync(dbPath)).digest("hex");
    const before = hash();
    const result = await runCli(["serve", "--listen", "127.0.0.1:0", "--sqlite-path", dbPath]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(dbPath);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(hash()).toBe(before);
  });

  it("refuses bad configuration with exit code 2, naming the field and its source", async () => {
    const result = await runCli(["serve", "--max-sessions", "lots"], { SESSIONSTORE_CLEANUP_INTERVAL: "300" });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/max-sessions/);
    expect(result.stderr).toMatch(/SESSIONSTORE_CLEANUP_INTERVAL/);
  });
});
