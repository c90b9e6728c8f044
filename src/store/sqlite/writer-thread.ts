import { parentPort, workerData } from "node:worker_threads";
import type Database from "better-sqlite3";
import { checkDiskRoom } from "./disk-room.js";
import { holdWriterLock, openDatabase } from "./open-database.js";
import { SessionTables } from "./session-tables.js";
import { SqliteWriter } from "./sqlite-writer.js";
import { toThreadError, toThreadSlot } from "./thread-errors.js";
import { unpackUpdates, type WriterData, type WriterLog, type WriterReply, type WriterRequest, type WriterStart } from "./writer-protocol.js";

/**
 * The SQLite store's writer thread: it owns the one connection that writes
 * the file and runs every SqliteWriter transaction, so that a commit, a WAL
 * checkpoint, a slow disk or another process's lock never holds up the event
 * loop that serves gRPC (better-sqlite3 is synchronous: a busy wait there
 * would stall every call, health checks included). Requests are answered one
 * at a time, in order, which is also the order the store committed them in.
 */

const port = parentPort!;
const { path, synchronous, rules } = workerData as WriterData;

const logger = {
  info: (obj: object, msg: string) => port.postMessage({ log: { level: "info", obj, msg } } satisfies WriterLog),
  warn: (obj: object, msg: string) => port.postMessage({ log: { level: "warn", obj, msg } } satisfies WriterLog),
};

let db: Database.Database | undefined;
let writer: SqliteWriter | undefined;
let lock: Database.Database | undefined;
try {
  lock = holdWriterLock(path);
  db = openDatabase(path, synchronous, logger);
  writer = new SqliteWriter(db, new SessionTables(db), rules);
  port.postMessage({ ready: true } satisfies WriterStart);
} catch (err) {
  // The store ends this thread once it has read why.
  port.postMessage({ ready: false, error: toThreadError(err) } satisfies WriterStart);
}

port.on("message", (request: WriterRequest) => {
  let reply: WriterReply;
  try {
    reply = { id: request.id, ok: true, value: run(request) };
  } catch (err) {
    reply = { id: request.id, ok: false, error: toThreadError(err) };
  }
  port.postMessage(reply);
});

function run(request: WriterRequest): unknown {
  switch (request.method) {
    case "ping":
      if (writer!.diskFull) checkDiskRoom(path);
      return undefined;
    case "close":
      close();
      return undefined;
    case "updateMany":
      return writer!.updateMany(unpackUpdates(request.args[0]), request.args[1], request.args[2]).map(toThreadSlot);
    case "resume":
      return toThreadSlot(writer!.resume(...(request.args as Parameters<SqliteWriter["resume"]>)));
    case "resumeEncoded":
      return toThreadSlot(writer!.resumeEncoded(...(request.args as Parameters<SqliteWriter["resumeEncoded"]>)));
    default:
      return (writer![request.method] as (...args: unknown[]) => unknown)(...(request.args as unknown[]));
  }
}

function close(): void {
  if (!db) return;
  try {
    // Folds the WAL into the main file, so the file alone is a complete copy once we are gone.
    db.pragma("wal_checkpoint(TRUNCATE)");
  } catch (err) {
    logger.warn({ err: { message: (err as Error).message }, path }, "could not checkpoint the session database on close");
  }
  db.close();
  lock?.close();
  db = undefined;
}
