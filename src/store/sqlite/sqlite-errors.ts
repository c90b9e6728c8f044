import Database from "better-sqlite3";
import { Reason, SessionError, storageFull } from "../../session/errors.js";

/**
 * SQLite reports a write that found no room on the disk (ENOSPC, or a quota)
 * as SQLITE_FULL, whatever part of the file it was writing.
 */
export function isDiskFull(err: unknown): boolean {
  return err instanceof Database.SqliteError && err.code === "SQLITE_FULL";
}

/**
 * A database failure as clients see it: STORAGE_FULL when the disk is full,
 * otherwise STORAGE_UNAVAILABLE with the code, never the message (it can
 * quote SQL); the log gets the cause. Anything else is passed through.
 */
export function storageError(err: unknown): unknown {
  if (!(err instanceof Database.SqliteError)) return err;
  if (isDiskFull(err)) return storageFull(err);
  return new SessionError(Reason.StorageUnavailable, `the session database failed (${err.code})`, { cause: err });
}
