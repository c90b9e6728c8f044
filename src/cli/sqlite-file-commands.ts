import { Command } from "commander";
import type { CheckReport } from "../store/sqlite/check-database.js";
import { EXIT_FAILURE, EXIT_USAGE, fail } from "./exit.js";
import { storeConfigOf, withStoreOptions } from "./store-options.js";

/** The settings these commands take: the file, found as serve finds it. */
const FILE_SETTINGS = /^--(config|sqlite-path) /;

const PATH_HELP = `The database is the one --sqlite-path, SESSIONSTORE_SQLITE_PATH or the
--config file names, as for serve.`;

const CHECK_HELP_AFTER = `
Runs SQLite's integrity_check and foreign_key_check, then decodes every stored
session header, history item and function call the way the sidecar reads them,
and prints each damaged one by tenant and conversation id. The file is opened
read-only: nothing is changed, and a sidecar serving it goes on undisturbed.
${PATH_HELP} Exit status: 0 clean, 1 damaged, 2 usage error (bad flags,
or a file that is missing or not a sessionstore database).`;

const BACKUP_HELP_AFTER = `
Copies the database through SQLite's online backup API on a read-only
connection: safe while a sidecar serves the file (its writer goes on
committing meanwhile), and consistent — the copy holds every write committed
before the backup began and none half-done. The copy is then checked as
sessionstore check does, and written beside FILE and renamed, so FILE is
never a partial copy. ${PATH_HELP}
Exit status: 0 copied and clean, 1 the copy failed or has damage, 2 usage error.`;

const RESTORE_HELP_AFTER = `
Puts a backup in place of the database. Refused while a sidecar serves the
file (it holds <path>-lock): stop it, restore, start it again. The backup must
pass sessionstore check first. The database replaced is kept as
<path>.before-restore (with its -wal), so a wrong restore can be undone.
${PATH_HELP} Exit status: 0 restored, 1 failed, 2 usage error (or refused).`;

// The SQLite modules are imported when a command runs: a build whose native
// module is broken still serves from memory or Redis (see open-store.ts).

/** `sessionstore check`: integrity of an SQLite session database, read-only. */
export function checkCommand(): Command {
  return fileCommand("check", "check an SQLite session database for damage, read-only (safe while a sidecar serves it)", CHECK_HELP_AFTER).action(
    async (flags: Record<string, unknown>) => {
      const path = storeConfigOf(flags).sqlitePath;
      const { checkDatabase } = await import("../store/sqlite/check-database.js");
      const report = await usable(async () => checkDatabase(path), EXIT_FAILURE);
      printReport(path, report);
      process.exitCode = report.damage.length === 0 ? 0 : EXIT_FAILURE;
    },
  );
}

/** `sessionstore backup --to FILE`: an online, consistent copy. */
export function backupCommand(): Command {
  return fileCommand("backup", "copy a live SQLite session database to FILE, consistently, while a sidecar serves it", BACKUP_HELP_AFTER)
    .requiredOption("--to <file>", "where the copy goes (an earlier backup there is replaced; a database in use, with a -wal beside it, is refused)")
    .action(async (flags: Record<string, unknown> & { to: string }) => {
      const path = storeConfigOf(flags).sqlitePath;
      const { backupDatabase } = await import("../store/sqlite/backup-database.js");
      const report = await usable(() => backupDatabase(path, flags.to), EXIT_FAILURE);
      printReport(flags.to, report);
      process.stdout.write(`backed up ${path} to ${flags.to}\n`);
      process.exitCode = report.damage.length === 0 ? 0 : EXIT_FAILURE;
    });
}

/** `sessionstore restore --from FILE`: a backup back in place, with no sidecar on the file. */
export function restoreCommand(): Command {
  return fileCommand("restore", "replace an SQLite session database with a backup (refused while a sidecar serves it)", RESTORE_HELP_AFTER)
    .requiredOption("--from <file>", "the backup (made by sessionstore backup)")
    .action(async (flags: Record<string, unknown> & { from: string }) => {
      const path = storeConfigOf(flags).sqlitePath;
      const { restoreDatabase } = await import("../store/sqlite/backup-database.js");
      const result = await usable(() => restoreDatabase(flags.from, path), EXIT_FAILURE);
      printReport(path, result.report);
      const kept = result.previous === undefined ? "" : `; the database it replaced is ${result.previous}`;
      process.stdout.write(`restored ${path} from ${flags.from}${kept}\n`);
    });
}

function fileCommand(name: string, description: string, helpAfter: string): Command {
  const command = new Command(name).description(description).addHelpText("after", helpAfter);
  withStoreOptions(command, FILE_SETTINGS);
  // serve's help says the file is created when missing; these commands never create it.
  for (const option of command.options) option.description = option.description.replace("; created when missing", "");
  return command;
}

/**
 * Runs the file operation. A file that is not what the command needs (missing,
 * not a sessionstore database, in use by a sidecar) is a usage error, exit 2;
 * any other failure exits with `otherwise`, the message on one line.
 */
async function usable<T>(work: () => Promise<T>, otherwise = EXIT_USAGE): Promise<T> {
  const { NotCheckable } = await import("../store/sqlite/check-database.js");
  const { DatabaseInUse } = await import("../store/sqlite/open-database.js");
  try {
    return await work();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof NotCheckable) fail(EXIT_USAGE, message);
    if (err instanceof DatabaseInUse) fail(EXIT_USAGE, `refused: ${err.path} is served by a running sidecar (it holds ${err.path}-lock); stop that sidecar first`);
    fail(otherwise, message);
  }
}

function printReport(path: string, report: CheckReport): void {
  const out: string[] = [];
  for (const d of report.damage) {
    const where = d.conversationId === "" ? "the file" : `tenant ${JSON.stringify(d.tenant)} conversation_id ${JSON.stringify(d.conversationId)}`;
    out.push(`damaged: ${where}: ${d.part}: ${d.problem}`);
  }
  const damagedSessions = new Set(report.damage.filter((d) => d.conversationId !== "").map((d) => `${d.tenant}\u0000${d.conversationId}`)).size;
  out.push(
    report.damage.length === 0
      ? `${path}: ok, ${report.sessions} sessions, no damage found`
      : `${path}: ${report.damage.length} damaged records (${damagedSessions} of ${report.sessions} sessions)`,
  );
  process.stdout.write(`${out.join("\n")}\n`);
}
