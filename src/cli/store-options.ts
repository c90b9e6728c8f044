import type { Command } from "commander";
import { pino } from "pino";
import { cliOptions, type Config, ConfigError, loadConfig } from "../config/config.js";
import { createLogger, type Logger } from "../runtime/logger.js";
import { EXIT_USAGE, fail } from "./exit.js";

/**
 * The commands that work on a store itself rather than through a sidecar
 * (export, import; check, backup and restore for SQLite files) take the
 * store's settings the way `serve` does — the same flags, SESSIONSTORE_*
 * variables and --config file — so that the command that moves or copies a
 * sidecar's data is pointed at it with the sidecar's own configuration.
 */
const STORE_SETTING = /^--(config|storage|sqlite-path|sqlite-synchronous|redis-url|redis-key-prefix|redis-connect-timeout|redis-require-durable|max-sessions|max-sessions-per-tenant|max-session-age|log-level) /;

/** Adds the store's settings (all of them, or only those `only` matches) to an offline command. */
export function withStoreOptions(command: Command, only: RegExp = STORE_SETTING): Command {
  for (const option of cliOptions().filter((o) => only.test(o.flags))) command.option(option.flags, option.description);
  return command;
}

/** The settings from flags, environment and config file; a usage error (exit 2) naming every problem otherwise. */
export function storeConfigOf(flags: Record<string, unknown>): Config {
  try {
    return loadConfig({ argv: flags, env: process.env, cwd: process.cwd() });
  } catch (err) {
    if (err instanceof ConfigError) fail(EXIT_USAGE, err.message);
    throw err;
  }
}

/**
 * The store's log for an offline command: JSON lines on stderr, warnings and
 * worse unless --log-level says otherwise, because stdout may be the data
 * (export writes its lines there).
 */
export function offlineLogger(config: Config, flags: Record<string, unknown>): Logger {
  return createLogger(flags.logLevel === undefined ? "warn" : config.logLevel, pino.destination({ dest: 2, sync: true }));
}
