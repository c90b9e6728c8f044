import type { SessionRules } from "../../session/rules.js";
import type { SqliteWriter } from "./sqlite-writer.js";
import type { ThreadError } from "./thread-errors.js";

/**
 * The messages between the SQLite store on the event loop and its writer
 * thread. Requests name a SqliteWriter method (or a thread operation) and
 * carry its arguments; every value is structured-cloned, so protobuf-es
 * messages (plain objects), bigints, Dates and bytes cross as they are.
 */

export type WriterMethod = "create" | "resume" | "updateMany" | "end" | "delete" | "cleanupBatch";

export type WriterRequest =
  | { id: number; method: WriterMethod; args: Parameters<SqliteWriter[WriterMethod]> }
  /** Answers at once: the thread is not stuck on a lock or a slow disk. */
  | { id: number; method: "ping"; args: [] }
  /** Checkpoints the WAL into the main file and closes the connection. */
  | { id: number; method: "close"; args: [] };

export type WriterReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: ThreadError };

/** What the thread posts once, after opening: ready, or why the file cannot be used. */
export type WriterStart = { ready: true } | { ready: false; error: ThreadError };

/** A log line of the thread, written by the store's logger on the event loop. */
export interface WriterLog {
  log: { level: "info" | "warn"; obj: object; msg: string };
}

export interface WriterData {
  path: string;
  rules: SessionRules;
}
