import { existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { APPLICATION_ID, migrate, newerSchemaError, SCHEMA_VERSION } from "./migrations.js";

/** How long a statement waits for another connection's lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/** The page size of databases this build creates. */
const PAGE_SIZE = 16_384;

/**
 * When the writing connection fsyncs. In WAL mode a commit is written to the
 * WAL before it returns either way, so it survives the sidecar being killed;
 * "normal" fsyncs only at checkpoints, so power loss or a kernel crash can
 * lose the last commits (never corrupt the file), while "full" fsyncs the WAL
 * on every commit, so an acknowledged write survives those too.
 */
export type Synchronous = "normal" | "full";

/** Where opening the database reports what it did; the writer thread forwards these to the store's logger. */
export interface OpenLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Opens (creating when missing) the sessionstore database at `path`, ready for
 * the current schema. A file that is not ours, is corrupt or was written by a
 * newer build fails with an Error naming the path and the problem, and is
 * left byte for byte as it was: it is inspected through a read-only
 * connection before anything opens it for writing, because even the WAL
 * switch or a checkpoint on close would rewrite it.
 */
export function openDatabase(path: string, synchronous: Synchronous, logger?: OpenLogger): Database.Database {
  makeDirectory(path);
  if (existsSync(path)) inspectDatabase(path);

  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (err) {
    throw new Error(`${path} cannot be opened: ${messageOf(err)}`, { cause: err });
  }
  try {
    configure(db, path, synchronous, logger);
    const found = migrate(db, path);
    logger?.info(
      { path, schemaVersion: SCHEMA_VERSION, synchronous, ...(found < SCHEMA_VERSION ? { migratedFrom: found } : {}) },
      found === 0 ? "created session database" : "opened session database",
    );
    return db;
  } catch (err) {
    db.close();
    if (err instanceof Database.SqliteError) throw new Error(`${path} cannot be prepared for use: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * A read-only connection to a database the writer has already opened and
 * prepared: the event loop's, for reads, which in WAL mode never wait for the
 * writer. A read that finds the file busy (a WAL checkpoint restarting it)
 * waits a little rather than fail.
 */
export function openReader(path: string): Database.Database {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  db.pragma("busy_timeout = 100");
  return db;
}

/**
 * One writer per file: a second sidecar on the same database would break
 * fencing, group commit and the writer's assumptions about what it alone
 * changed, so it is refused at start. The lock is an exclusive transaction
 * held open on `<path>-lock`, a small SQLite file beside the database:
 * SQLite's locks are the operating system's, released however the holder
 * dies, so a SIGKILLed sidecar never leaves a stale lock behind. Returns the
 * connection that holds it; closing it releases the lock.
 */
export function holdWriterLock(path: string): Database.Database {
  makeDirectory(path);
  const lockPath = `${path}-lock`;
  let lock: Database.Database;
  try {
    lock = new Database(lockPath);
  } catch (err) {
    throw new Error(`cannot open ${lockPath}, the lock of ${path}: ${messageOf(err)}`, { cause: err });
  }
  try {
    lock.exec("BEGIN EXCLUSIVE");
    return lock;
  } catch (err) {
    lock.close();
    if (err instanceof Database.SqliteError && err.code.startsWith("SQLITE_BUSY")) {
      throw new DatabaseInUse(path, lockPath, err);
    }
    throw new Error(`cannot lock ${lockPath}: ${messageOf(err)}`, { cause: err });
  }
}

/** Another process holds the writer lock of the database: a sidecar serves it. */
export class DatabaseInUse extends Error {
  constructor(
    readonly path: string,
    lockPath: string,
    cause: unknown,
  ) {
    super(`${path} is in use by another sessionstore process (it holds ${lockPath}); run one sidecar per database file`, { cause });
    this.name = "DatabaseInUse";
  }
}

function makeDirectory(path: string): void {
  try {
    mkdirSync(dirname(resolve(path)), { recursive: true });
  } catch (err) {
    throw new Error(`cannot create the directory of ${path}: ${messageOf(err)}`, { cause: err });
  }
}

function configure(db: Database.Database, path: string, synchronous: Synchronous, logger?: OpenLogger): void {
  // Applies only to a file with no tables yet. A 100 ms audio chunk (3,200
  // bytes) fills most of a 4 KiB page alone; 16 KiB pages hold five, so a
  // group commit writes a quarter of the WAL frames, and the writer spent
  // ~25 % less CPU per update in a group commit of 1,000 calls (BENCHMARKS.md).
  db.pragma(`page_size = ${PAGE_SIZE}`);
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const mode = db.pragma("journal_mode = WAL", { simple: true });
  if (mode !== "wal" && !db.memory) logger?.warn({ path, journalMode: mode }, "the filesystem refused WAL mode; writes will be slower");
  // See Synchronous for what each mode promises; BENCHMARKS.md has what FULL costs.
  db.pragma(`synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`);
  db.pragma("foreign_keys = ON");
}

/** Throws unless the existing file at `path` is an empty SQLite file or a healthy sessionstore database this build can read. */
function inspectDatabase(path: string): void {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new Error(`${path} cannot be opened: ${messageOf(err)}`, { cause: err });
  }
  try {
    checkIdentity(db, path);
    checkIntegrity(db, path);
  } catch (err) {
    if (!(err instanceof Database.SqliteError)) throw err;
    if (err.code === "SQLITE_NOTADB") throw new Error(`${path} is not a sessionstore database: it is not an SQLite file`, { cause: err });
    if (err.code.startsWith("SQLITE_CORRUPT")) throw corruptError(path, err.message, err);
    throw new Error(`${path} cannot be read: ${err.message}`, { cause: err });
  } finally {
    db.close();
  }
}

function checkIdentity(db: Database.Database, path: string): void {
  const applicationId = db.pragma("application_id", { simple: true }) as number;
  const version = db.pragma("user_version", { simple: true }) as number;
  if (applicationId === APPLICATION_ID) {
    if (version > SCHEMA_VERSION) throw newerSchemaError(path, version);
    return;
  }
  if (applicationId !== 0) {
    throw new Error(`${path} is not a sessionstore database: its application_id 0x${(applicationId >>> 0).toString(16)} belongs to another application`);
  }
  const tables = db
    .prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all();
  // An SQLite file nobody has stamped or filled yet (e.g. made by `touch` or
  // an empty `sqlite3` session) is taken over; anything holding data is not.
  if (tables.length > 0 || version !== 0) {
    const held = tables.length > 0 ? `tables ${tables.slice(0, 5).join(", ")}${tables.length > 5 ? ", …" : ""}` : `user_version ${version}`;
    throw new Error(`${path} is not a sessionstore database: it is an SQLite file of another application (it holds ${held})`);
  }
}

function checkIntegrity(db: Database.Database, path: string): void {
  // Only an initialised database has the sessions table to check.
  if ((db.pragma("application_id", { simple: true }) as number) !== APPLICATION_ID) return;
  // The sessions table (one small row per session) and its indexes: what
  // every call reads first. Checking the whole file would make start-up as
  // slow as reading it — seconds for a large one — while a damaged history
  // or audio page is found, and reported for its session alone, when read.
  const rows = db.pragma("quick_check(sessions)") as Array<{ quick_check: string }>;
  const problems = rows.map((row) => row.quick_check).filter((text) => text !== "ok");
  if (problems.length > 0) throw corruptError(path, problems.slice(0, 3).join("; "));
}

function corruptError(path: string, detail: string, cause?: unknown): Error {
  return new Error(`${path} is corrupt: ${detail}; restore it from a backup or move it aside`, cause === undefined ? undefined : { cause });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
