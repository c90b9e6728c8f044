import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/runtime/clock.js";
import { SessionSchema, SessionUpdateSchema, SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { Reason, SessionError } from "../../src/session/errors.js";
import { defaultRules } from "../../src/session/rules.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { TenantUpdate } from "../../src/store/store.js";

const T = "default";
let dir: string;
let store: SqliteStore;

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function append(conversationId: string, seq: bigint, itemId: string): TenantUpdate {
  return { tenant: T, update: create(SessionUpdateSchema, { conversationId, seq, appendHistory: [{ itemId }] }) };
}

async function history(conversationId: string): Promise<string[]> {
  const session = await store.get(T, conversationId, SessionView.FULL);
  return session.conversationHistory.map((i) => i.itemId);
}

// The conformance suite covers refusals, which only undo their own update.
// A failure of the database itself is SQLite's alone: the whole group must go.
describe("SqliteStore.updateMany when the database fails mid-group", () => {
  it("rolls the whole group back, rejects with STORAGE_UNAVAILABLE, and commits the next group", async () => {
    dir = mkdtempSync(join(tmpdir(), "sessionstore-group-"));
    const path = join(dir, "sessions.db");
    store = await SqliteStore.open({ path, rules: defaultRules, clock: new ManualClock() });
    for (const id of ["before", "boom", "after"]) await store.create(T, create(SessionSchema, { conversationId: id }), "bridge-1");

    // A trigger stands in for a disk error: it fails the third update's write
    // after the first two have been written inside the same transaction.
    const admin = new Database(path);
    admin.exec(`CREATE TRIGGER fail_boom BEFORE INSERT ON history WHEN NEW.conversation_id = 'boom'
                BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);

    const group = [append("before", 1n, "b1"), append("after", 1n, "a1"), append("boom", 1n, "x1"), append("after", 2n, "a2")];
    const error = await store.updateMany(group).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(SessionError);
    expect((error as SessionError).reason).toBe(Reason.StorageUnavailable);
    expect((error as SessionError).message).not.toContain("injected");
    expect(await history("before")).toEqual([]);
    expect(await history("after")).toEqual([]);
    expect((await store.get(T, "after", SessionView.BASIC)).lastSeq).toBe(0n);

    admin.exec("DROP TRIGGER fail_boom");
    admin.close();
    const results = await store.updateMany(group);
    expect(results.map((r) => (r instanceof SessionError ? r.reason : r.applied))).toEqual([true, true, true, true]);
    expect(await history("after")).toEqual(["a1", "a2"]);
    expect(await history("boom")).toEqual(["x1"]);
  });
});
