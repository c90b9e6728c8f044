import { existsSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import Database from "better-sqlite3";
import { type CheckReport, checkDatabase, NotCheckable, openReadOnly } from "./check-database.js";
import { APPLICATION_ID } from "./migrations.js";
import { holdWriterLock } from "./open-database.js";

/**
 * `sessionstore backup` and `restore`: a consistent copy of a session
 * database, taken while a sidecar serves it, and that copy put back.
 *
 * The backup reads through SQLite's online backup API on a read-only
 * connection of its own. It needs neither the writer lock (`<path>-lock`,
 * held by the serving sidecar) nor the write lock of the database: in WAL
 * mode a reader never blocks the writer, so the sidecar's writer thread goes
 * on committing while the copy is made. Every page is copied in one step,
 * inside one read transaction, so the copy is the database as it was at one
 * instant — every commit before it, none after — however busy the writer
 * (copied in small steps, a backup restarts whenever another process
 * writes, and under steady load would never finish). The copy is written
 * beside its destination and renamed into place, so a backup that fails
 * leaves no half file under the destination's name.
 */

/** Copies the database at `source` to `destination`, then checks the copy; throws NotCheckable for a source that is not a session database. */
export async function backupDatabase(source: string, destination: string): Promise<CheckReport> {
  if (resolve(source) === resolve(destination)) throw new NotCheckable(`--to ${destination} is the database itself`);
  // A WAL beside the destination belongs to the file there (a database in use, or
  // one not closed cleanly), and would be replayed into the copy put in its place.
  for (const suffix of ["-wal", "-shm"]) {
    if (existsSync(`${destination}${suffix}`)) throw new NotCheckable(`--to ${destination} has a ${destination}${suffix} beside it: it is (or was) a database in use; choose another file`);
  }
  const db = openSessionDatabase(source);
  const partial = join(dirname(resolve(destination)), `.${basename(destination)}.partial-${process.pid}`);
  try {
    // The first step (0 pages) only starts the backup; the handler then asks for every page in the next one.
    await db.backup(partial, { progress: () => 0x7fffffff });
  } catch (err) {
    rmSync(partial, { force: true });
    throw new Error(`cannot write ${destination}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  } finally {
    db.close();
  }
  selfContained(partial);
  const report = checkDatabase(partial);
  renameSync(partial, destination);
  return report;
}

/**
 * The copy keeps the WAL mode of its source, in which even a read-only open
 * (the check, an operator's sqlite3) leaves -wal and -shm files beside it; in
 * rollback-journal mode a backup is the one file, to be copied and shipped as
 * it is. A sidecar opening it switches it back to WAL.
 */
function selfContained(path: string): void {
  const db = new Database(path, { fileMustExist: true });
  try {
    db.pragma("journal_mode = DELETE");
  } finally {
    db.close();
  }
}

export interface RestoreResult {
  report: CheckReport;
  /** Where the database that was replaced now is (with its -wal, if it had one); undefined when there was none. */
  previous: string | undefined;
}

/**
 * Puts the backup at `from` in place of the database at `target`. Refused
 * while a sidecar holds the writer lock (its open connections would go on
 * writing to the file being replaced), and for a backup that is not a clean
 * session database. The file replaced is kept beside the target as
 * `<target>.before-restore`, with its WAL, so a restore of the wrong backup
 * can be undone.
 */
export async function restoreDatabase(from: string, target: string): Promise<RestoreResult> {
  if (resolve(from) === resolve(target)) throw new NotCheckable(`--from ${from} is the database itself`);
  const checked = checkDatabase(from);
  if (checked.damage.length > 0) throw new NotCheckable(`${from} is damaged (${checked.damage.length} damaged records; sessionstore check --sqlite-path ${from} lists them): not restored`);
  const lock = holdWriterLock(target);
  try {
    const copy = `${target}.restoring-${process.pid}`;
    const db = openSessionDatabase(from);
    try {
      await db.backup(copy, { progress: () => 0x7fffffff });
    } catch (err) {
      rmSync(copy, { force: true });
      throw err;
    } finally {
      db.close();
    }
    let previous: string | undefined;
    if (existsSync(target)) {
      previous = `${target}.before-restore`;
      // The WAL goes with its database: renamed as a pair they still open as one.
      for (const suffix of ["", "-wal", "-shm"]) {
        rmSync(`${previous}${suffix}`, { force: true });
        if (existsSync(`${target}${suffix}`)) renameSync(`${target}${suffix}`, `${previous}${suffix}`);
      }
    }
    renameSync(copy, target);
    return { report: checkDatabase(target), previous };
  } finally {
    lock.close();
  }
}

/** A read-only connection to a sessionstore database; NotCheckable for a file that is missing or not one. */
function openSessionDatabase(path: string): Database.Database {
  const db = openReadOnly(path);
  try {
    const id = db.pragma("application_id", { simple: true }) as number;
    if (id !== APPLICATION_ID) throw new NotCheckable(`${path} is not a sessionstore database`);
    return db;
  } catch (err) {
    db.close();
    if (err instanceof Database.SqliteError && err.code === "SQLITE_NOTADB") throw new NotCheckable(`${path} is not an SQLite file`);
    throw err;
  }
}
