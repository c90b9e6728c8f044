import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { once } from "node:events";
import type { Writable } from "node:stream";
import { createInterface } from "node:readline";
import { Command } from "commander";
import { SessionStatus, SessionView } from "../gen/sessionstore/v1/session_store_pb.js";
import { rulesOf, type Config } from "../config/config.js";
import { redactedUrl } from "../config/config-values.js";
import { SessionError } from "../session/errors.js";
import type { Store } from "../store/store.js";
import { EXIT_FAILURE, EXIT_USAGE, fail } from "./exit.js";
import { ExportLineError, exportLine, parseExportLine } from "./export-line.js";
import { openStore } from "./open-store.js";
import { offlineLogger, storeConfigOf, withStoreOptions } from "./store-options.js";

/** Sessions read per page while exporting: FULL sessions can be large, so a page is kept short. */
const EXPORT_PAGE_SIZE = 20;

const EVERY_STATUS = [SessionStatus.INITIATED, SessionStatus.ACTIVE, SessionStatus.PAUSED, SessionStatus.ENDED, SessionStatus.ERROR];

const TRANSFER_HELP_AFTER = `
The store is chosen by the settings serve uses (--storage, --sqlite-path,
--redis-url, …, SESSIONSTORE_* or --config), so one pipe moves a deployment:

  sessionstore export --storage sqlite --sqlite-path old.db | sessionstore import --storage redis --redis-url redis://cache:6379

Each line is one session with its tenant, in the format sessionstore.export.v1
(docs/EXPORT-FORMAT.md; import reads that version only): every field, history
item, function call and audio byte. Expired sessions are not exported.
A Redis store can be exported and imported into while sidecars serve it; an
SQLite file is locked by the sidecar serving it, so stop that sidecar first,
or export from a backup (sessionstore backup) of the live file.
Exit status: 0 done, 1 some sessions failed (each named on stderr), 2 usage.`;

/** `sessionstore export`: every session of every tenant, as JSON Lines. */
export function exportCommand(): Command {
  return withStoreOptions(
    new Command("export")
      .description("write every session of a store (any backend) as JSON Lines, to stdout or --to, for import elsewhere")
      .option("--to <file>", "write to this file instead of stdout")
      .option("--tenant <name>", "only this tenant's sessions (default: every tenant)"),
  )
    .addHelpText("after", TRANSFER_HELP_AFTER)
    .action(async (flags: Record<string, unknown>) => {
      const config = storeConfigOf(flags);
      // Opening a missing SQLite file would create an empty one, and export nothing without a word.
      if (config.storage === "sqlite" && !existsSync(config.sqlitePath)) fail(EXIT_USAGE, `${config.sqlitePath} does not exist (--sqlite-path)`);
      const store = await open(config, flags);
      const out = typeof flags.to === "string" ? createWriteStream(flags.to) : process.stdout;
      let count = 0;
      try {
        const tenants = typeof flags.tenant === "string" ? [flags.tenant] : await store.tenants();
        for (const tenant of tenants) count += await exportTenant(store, tenant, out);
        if (out !== process.stdout) await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      } catch (err) {
        await store.close().catch(() => undefined);
        fail(EXIT_FAILURE, `export stopped after ${count} sessions: ${messageOf(err)}`);
      }
      await store.close();
      process.stderr.write(`exported ${count} sessions from ${describe(config)}\n`);
    });
}

/** `sessionstore import`: the lines of an export, written into a store of any backend. */
export function importCommand(): Command {
  return withStoreOptions(
    new Command("import")
      .description("store the sessions of a sessionstore export (JSON Lines from stdin or --from) in a store of any backend")
      .option("--from <file>", "read this file instead of stdin")
      .option("--replace", "replace a stored session of the same tenant and conversation_id (default: refuse it, SESSION_EXISTS, and go on)"),
  )
    .addHelpText("after", `${TRANSFER_HELP_AFTER}\nA session whose id is taken is refused unless --replace: an import never\noverwrites a live call by surprise, and with --replace the same import can be\nrun again after a failure. Imported sessions keep their etag, owner_epoch,\nlast_seq and timestamps: a bridge resuming one carries on where it left off.`)
    .action(async (flags: Record<string, unknown>) => {
      const config = storeConfigOf(flags);
      // Checked before the store is opened, so a mistyped file costs nothing.
      if (typeof flags.from === "string" && !existsSync(flags.from)) fail(EXIT_USAGE, `cannot read ${flags.from}: ENOENT: no such file (--from)`);
      const input = typeof flags.from === "string" ? createReadStream(flags.from) : process.stdin;
      input.once("error", (err: Error) => fail(EXIT_USAGE, `cannot read ${String(flags.from)}: ${messageOf(err)}`));
      const store = await open(config, flags);
      const counts = { imported: 0, replaced: 0, failed: 0 };
      let lineNumber = 0;
      try {
        for await (const text of createInterface({ input, crlfDelay: Infinity })) {
          lineNumber += 1;
          if (text.trim() === "") continue;
          let where = `line ${lineNumber}`;
          try {
            const { tenant, session } = parseExportLine(text);
            where += ` (tenant ${tenant}, conversation_id ${session.conversationId})`;
            const { replaced } = await store.importSession(tenant, session, flags.replace === true);
            counts.imported += 1;
            if (replaced) counts.replaced += 1;
          } catch (err) {
            if (!(err instanceof ExportLineError || err instanceof SessionError)) throw err;
            counts.failed += 1;
            process.stderr.write(`sessionstore: ${where}: ${err instanceof SessionError ? `${err.reason}: ` : ""}${err.message}\n`);
          }
        }
      } catch (err) {
        await store.close().catch(() => undefined);
        fail(EXIT_FAILURE, `import stopped at line ${lineNumber}, after ${counts.imported} sessions: ${messageOf(err)}`);
      }
      await store.close();
      const replaced = counts.replaced > 0 ? ` (${counts.replaced} replaced)` : "";
      process.stderr.write(`imported ${counts.imported} sessions${replaced} into ${describe(config)}${counts.failed > 0 ? `; ${counts.failed} failed` : ""}\n`);
      if (counts.failed > 0) process.exitCode = EXIT_FAILURE;
    });
}

/** Writes one tenant's sessions, page by page, waiting whenever the reader is slower; returns how many. */
async function exportTenant(store: Store, tenant: string, out: Writable): Promise<number> {
  let after = "";
  let count = 0;
  for (;;) {
    const page = await store.list(tenant, { pageSize: EXPORT_PAGE_SIZE, after, statuses: EVERY_STATUS, bridgeType: "", view: SessionView.FULL });
    for (const session of page.sessions) {
      if (!out.write(`${exportLine(tenant, session)}\n`)) await once(out, "drain");
      count += 1;
    }
    const last = page.sessions[page.sessions.length - 1];
    if (!page.more || last === undefined) return count;
    after = last.conversationId;
  }
}

async function open(config: Config, flags: Record<string, unknown>): Promise<Store> {
  try {
    return await openStore(config, rulesOf(config), offlineLogger(config, flags));
  } catch (err) {
    fail(EXIT_FAILURE, `cannot open ${describe(config)}: ${messageOf(err)}`);
  }
}

function describe(config: Config): string {
  if (config.storage === "sqlite") return `sqlite ${config.sqlitePath}`;
  if (config.storage === "redis") return `redis ${redactedUrl(config.redisUrl)} (key prefix ${config.redisKeyPrefix})`;
  return config.storage;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
