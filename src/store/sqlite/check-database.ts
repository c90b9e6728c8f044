import Database from "better-sqlite3";
import { ConversationItemSchema, FunctionCallSchema } from "../../gen/sessionstore/v1/session_store_pb.js";
import { isDataCorrupted } from "../../session/errors.js";
import { decodeStored } from "../stored-records.js";
import { APPLICATION_ID } from "./migrations.js";
import { recordFromRow } from "./rows.js";
import type { HeaderRow } from "./sql.js";

/** One damaged thing found in a database. */
export interface Damage {
  /** "" for damage SQLite itself reports, which belongs to no one session. */
  tenant: string;
  conversationId: string;
  /** What is damaged: "file", "header", "history", "function_call" or "audio". */
  part: string;
  problem: string;
}

export interface CheckReport {
  sessions: number;
  damage: Damage[];
}

/** A file that cannot be checked at all: missing, not SQLite, not ours. */
export class NotCheckable extends Error {}

/**
 * A read-only connection to the file at `path`, for the commands that read a
 * database beside a serving sidecar (check, backup): NotCheckable when it
 * cannot be opened; it waits up to 5 s for a lock, as the sidecar does.
 */
export function openReadOnly(path: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new NotCheckable(`${path} cannot be opened: ${err instanceof Error ? err.message : String(err)}`);
  }
  db.pragma("busy_timeout = 5000");
  return db;
}

/**
 * `sessionstore check`: reads a whole SQLite session database and reports
 * every damaged record. It opens the file read-only, so it may run while a
 * sidecar serves it (in WAL mode a reader never waits for the writer, nor
 * holds it up) and changes nothing. SQLite's own integrity_check comes
 * first; then each stored message is decoded the way the store reads it, so
 * what it calls damaged is exactly what the sidecar answers DATA_LOSS for.
 * Reads one row at a time, so its memory does not grow with the file.
 */
export function checkDatabase(path: string): CheckReport {
  const db = openReadOnly(path);
  try {
    return inspect(db, path);
  } catch (err) {
    if (err instanceof Database.SqliteError && err.code === "SQLITE_NOTADB") throw new NotCheckable(`${path} is not an SQLite file`);
    if (err instanceof Database.SqliteError && err.code.startsWith("SQLITE_CORRUPT")) {
      return { sessions: 0, damage: [{ tenant: "", conversationId: "", part: "file", problem: `SQLite cannot read the file: ${err.message}` }] };
    }
    throw err;
  } finally {
    db.close();
  }
}

function inspect(db: Database.Database, path: string): CheckReport {
  if ((db.pragma("application_id", { simple: true }) as number) !== APPLICATION_ID) {
    throw new NotCheckable(`${path} is not a sessionstore database (its application_id is not sessionstore's)`);
  }
  const damage: Damage[] = [];
  for (const { integrity_check: text } of db.pragma("integrity_check") as Array<{ integrity_check: string }>) {
    if (text !== "ok") damage.push({ tenant: "", conversationId: "", part: "file", problem: text });
  }
  // integrity_check leaves foreign keys out: a child row whose session is gone would never be read or deleted.
  for (const row of db.pragma("foreign_key_check") as Array<{ table: string; rowid: number }>) {
    damage.push({ tenant: "", conversationId: "", part: "file", problem: `row ${row.rowid} of ${row.table} belongs to no session` });
  }
  // A page SQLite found damaged can make the reads below fail: what they did read is reported with it.
  const guarded = (part: string, read: () => void) => {
    try {
      read();
    } catch (err) {
      if (!(err instanceof Database.SqliteError)) throw err;
      damage.push({ tenant: "", conversationId: "", part: "file", problem: `reading the ${part} table failed: ${err.message}` });
    }
  };
  let sessions = 0;
  const note = (tenant: string, conversationId: string, part: string, decode: () => unknown) => {
    try {
      decode();
    } catch (err) {
      if (!isDataCorrupted(err)) throw err;
      const cause = err.cause instanceof Error ? err.cause.message : err.message;
      damage.push({ tenant, conversationId, part, problem: cause });
    }
  };

  guarded("sessions", () => {
    const rows = db.prepare<[], HeaderRow & { tenant: string }>(
      "SELECT tenant, conversation_id, status, version, audio_last_seq, audio_bytes, header FROM sessions ORDER BY tenant, conversation_id",
    );
    for (const row of rows.iterate()) {
      sessions += 1;
      note(row.tenant, row.conversation_id, "header", () => recordFromRow(row));
    }
  });
  guarded("history", () => {
    const rows = db.prepare<[], { tenant: string; conversation_id: string; id: number; item: Buffer }>("SELECT tenant, conversation_id, id, item FROM history ORDER BY id");
    for (const row of rows.iterate()) {
      note(row.tenant, row.conversation_id, "history", () => decodeStored(ConversationItemSchema, row.item, row.conversation_id, "history"));
    }
  });
  guarded("function_calls", () => {
    const rows = db.prepare<[], { tenant: string; conversation_id: string; call: Buffer }>("SELECT tenant, conversation_id, call FROM function_calls ORDER BY id");
    for (const row of rows.iterate()) {
      note(row.tenant, row.conversation_id, "function_call", () => decodeStored(FunctionCallSchema, row.call, row.conversation_id, "function_call"));
    }
  });
  // Audio is stored as raw bytes with no structure to decode: only what SQLite can say of its rows applies.
  guarded("audio", () => {
    const rows = db.prepare<[], { tenant: string; conversation_id: string; seq: unknown; data: unknown }>("SELECT tenant, conversation_id, seq, data FROM audio");
    for (const row of rows.iterate()) {
      const problem = typeof row.seq !== "number" ? `a chunk's seq is ${typeof row.seq}` : !Buffer.isBuffer(row.data) ? `chunk ${row.seq} holds no bytes` : undefined;
      if (problem !== undefined) damage.push({ tenant: row.tenant, conversationId: row.conversation_id, part: "audio", problem });
    }
  });
  return { sessions, damage };
}
