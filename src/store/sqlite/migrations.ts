import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import { fromBinary } from "@bufbuild/protobuf";
import { ConversationItemSchema } from "../../gen/sessionstore/v1/session_store_pb.js";

/**
 * The schema, as an append-only list: migration i (1-based) takes the file
 * from user_version i-1 to i. A released migration is never edited — a change
 * is a new entry — so every file in the field follows the same path to the
 * current schema, and a build can tell a file written by a newer build
 * (user_version beyond this list) and refuse it instead of guessing.
 */
export interface Migration {
  description: string;
  up(db: Database.Database): void;
}

/**
 * Stamped into the file header (PRAGMA application_id) when the schema is
 * created: "sess" in ASCII. It tells our files from other applications'
 * SQLite files, so a mistyped --sqlite-path is refused rather than written to.
 */
export const APPLICATION_ID = 0x73657373;

export const migrations: readonly Migration[] = [
  {
    description: "sessions with history, function calls, audio ring and per-tenant counters",
    up(db) {
      db.exec(`
        -- One small row per session: everything an update needs, so a write
        -- never reads the children. header is the Session (children left
        -- empty) as protobuf binary; the columns beside it duplicate what SQL
        -- filters and sorts on, plus the store's own bookkeeping.
        CREATE TABLE sessions (
          tenant           TEXT    NOT NULL,
          conversation_id  TEXT    NOT NULL,
          status           INTEGER NOT NULL,
          bridge_type      TEXT    NOT NULL,
          resumed_count    INTEGER NOT NULL,
          created_ms       INTEGER NOT NULL,
          last_activity_ms INTEGER NOT NULL,
          version          INTEGER NOT NULL,
          audio_last_seq   INTEGER NOT NULL,
          audio_bytes      INTEGER NOT NULL,
          header           BLOB    NOT NULL,
          PRIMARY KEY (tenant, conversation_id)
        );
        -- Cleanup walks sessions oldest first; its cost follows what expired.
        CREATE INDEX sessions_by_activity ON sessions (last_activity_ms);
        -- max_sessions counts live sessions on every create without a table scan.
        CREATE INDEX sessions_live ON sessions (status, last_activity_ms);

        -- id is the rowid: a new row always gets one above every existing
        -- row, so ORDER BY id is append order within a session.
        CREATE TABLE history (
          id              INTEGER PRIMARY KEY,
          tenant          TEXT NOT NULL,
          conversation_id TEXT NOT NULL,
          item            BLOB NOT NULL,
          FOREIGN KEY (tenant, conversation_id) REFERENCES sessions (tenant, conversation_id) ON DELETE CASCADE
        );
        CREATE INDEX history_by_session ON history (tenant, conversation_id, id);

        -- Upserted by call_id: an upsert replaces call but keeps id (the
        -- first insertion's position) and created_ms (the first created_at).
        CREATE TABLE function_calls (
          id              INTEGER PRIMARY KEY,
          tenant          TEXT    NOT NULL,
          conversation_id TEXT    NOT NULL,
          call_id         TEXT    NOT NULL,
          created_ms      INTEGER NOT NULL,
          call            BLOB    NOT NULL,
          UNIQUE (tenant, conversation_id, call_id),
          FOREIGN KEY (tenant, conversation_id) REFERENCES sessions (tenant, conversation_id) ON DELETE CASCADE
        );

        -- The audio ring: trimming reads the oldest (seq, length(data)) pairs
        -- through the primary key and deletes a prefix of it.
        CREATE TABLE audio (
          tenant          TEXT    NOT NULL,
          conversation_id TEXT    NOT NULL,
          seq             INTEGER NOT NULL,
          created_ms      INTEGER NOT NULL,
          data            BLOB    NOT NULL,
          PRIMARY KEY (tenant, conversation_id, seq),
          FOREIGN KEY (tenant, conversation_id) REFERENCES sessions (tenant, conversation_id) ON DELETE CASCADE
        );

        -- Totals that outlive the sessions they count (failed_resumes, cleanup_count).
        CREATE TABLE counters (
          tenant TEXT    NOT NULL,
          name   TEXT    NOT NULL,
          value  INTEGER NOT NULL,
          PRIMARY KEY (tenant, name)
        ) WITHOUT ROWID;
      `);
    },
  },
  {
    description: "a secret shared by every sidecar on the file: the key that signs page tokens",
    up(db) {
      // Made once, with the file, so tokens stay valid across restarts and
      // are forged by no one who cannot read the file.
      db.exec(`
        CREATE TABLE secrets (
          name  TEXT PRIMARY KEY,
          value BLOB NOT NULL
        ) WITHOUT ROWID;
      `);
      db.prepare("INSERT INTO secrets (name, value) VALUES (?, ?)").run(Secret.pageTokenKey, randomBytes(32));
    },
  },
  {
    description: "history items found by item_id: edits and history windows, without a scan of the history",
    up(db) {
      // The column copies what the item's bytes hold, as the sessions table's
      // columns copy its header. Rows written before it are filled in from
      // their bytes once, here; a row that does not decode keeps "" and stays
      // DATA_CORRUPTED when read, as before.
      db.exec(`
        ALTER TABLE history ADD COLUMN item_id TEXT NOT NULL DEFAULT '';
        CREATE INDEX history_by_item ON history (tenant, conversation_id, item_id, id);
      `);
      const fill = db.prepare<[itemId: string, id: number]>("UPDATE history SET item_id = ? WHERE id = ?");
      // In pages by id: a cursor cannot stay open across the updates, and a whole history file need not fit in memory.
      const page = db.prepare<[after: number], { id: number; item: Buffer }>("SELECT id, item FROM history WHERE id > ? ORDER BY id LIMIT 1000");
      for (let rows = page.all(0); rows.length > 0; rows = page.all(rows.at(-1)!.id)) {
        for (const row of rows) {
          let itemId: string;
          try {
            itemId = fromBinary(ConversationItemSchema, row.item).itemId;
          } catch {
            continue;
          }
          if (itemId !== "") fill.run(itemId, row.id);
        }
      }
    },
  },
];

/** Names of the rows in the secrets table. */
export const Secret = {
  pageTokenKey: "page_token_key",
} as const;

/** The schema version this build writes. */
export const SCHEMA_VERSION = migrations.length;

/**
 * Brings a file checked by inspectDatabase up to SCHEMA_VERSION in one
 * transaction, so a crash mid-way leaves the file as it was. The version is
 * read again inside the transaction because another process may have
 * migrated the file since it was inspected. Returns the version found.
 */
export function migrate(db: Database.Database, path: string): number {
  const run = db.transaction(() => {
    const found = db.pragma("user_version", { simple: true }) as number;
    if (found > SCHEMA_VERSION) throw newerSchemaError(path, found);
    for (const migration of migrations.slice(found)) migration.up(db);
    if (found < SCHEMA_VERSION) {
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      db.pragma(`application_id = ${APPLICATION_ID}`);
    }
    return found;
  });
  return run.immediate();
}

export function newerSchemaError(path: string, found: number): Error {
  return new Error(
    `${path} was written by a newer sessionstore (schema ${found}, this build knows ${SCHEMA_VERSION}); upgrade sessionstore or point --sqlite-path at another file`,
  );
}
