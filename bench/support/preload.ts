/**
 * Fills a database file with sessions before a benchmark's sidecar starts,
 * through the store's own writer on this thread (the sidecar is not running
 * yet, so the file is free): setup in seconds rather than minutes of RPCs.
 */
import { create } from "@bufbuild/protobuf";
import { SessionSchema, SessionUpdateSchema } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { defaultRules } from "../../src/session/rules.js";
import { holdWriterLock, openDatabase } from "../../src/store/sqlite/open-database.js";
import { SessionTables } from "../../src/store/sqlite/session-tables.js";
import { SqliteWriter } from "../../src/store/sqlite/sqlite-writer.js";

export interface PreloadOptions {
  path: string;
  sessions: number;
  prefix: string;
  /** History items per session, and audio chunks of 3,200 bytes per session (the ring keeps the newest 300). */
  historyItems?: number;
  audioChunks?: number;
}

export function preload({ path, sessions, prefix, historyItems = 0, audioChunks = 0 }: PreloadOptions): void {
  const lock = holdWriterLock(path);
  const db = openDatabase(path, "normal");
  const writer = new SqliteWriter(db, new SessionTables(db), { ...defaultRules, maxSessions: Number.MAX_SAFE_INTEGER });
  const now = new Date();
  const frame = new Uint8Array(3_200).fill(0x11);
  const text = "a transcript sentence of about sixty characters, as spoken!";
  for (let s = 0; s < sessions; s++) {
    const conversationId = `${prefix}-${s}`;
    writer.create("default", create(SessionSchema, { conversationId, bridgeType: "audiocodes" }), "preload", now, 1 + s);
    // Groups of 100 updates of one session: what a bridge's stream makes of a long call.
    for (let done = 0; done < Math.max(historyItems, audioChunks); done += 100) {
      const updates = Array.from({ length: 100 }, (_, i) => done + i).map((n) =>
        create(SessionUpdateSchema, {
          conversationId,
          appendHistory: n < historyItems ? [{ itemId: `h${n}`, role: n % 2 ? "assistant" : "user", type: "message", text }] : [],
          appendAudio: n < audioChunks ? [{ data: frame }] : [],
        }),
      );
      writer.updateMany(updates.map((update) => ({ tenant: "default", update })), now, 0);
    }
  }
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
  lock.close();
}
