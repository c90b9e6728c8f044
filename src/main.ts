import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { systemClock } from "./runtime/clock.js";
import { cliOptions, type Config, ConfigError, loadConfig, rulesOf } from "./config/config.js";
import { checkDistinct, type TokenGrant } from "./config/auth-tokens.js";
import { Invalid, redactedUrl } from "./config/config-values.js";
import { readTokensFile } from "./config/tokens-file.js";
import { Authenticator, TokenTable } from "./server/auth.js";
import { TokensWatch } from "./server/tokens-watch.js";
import { EventLoopWatch } from "./server/event-loop-watch.js";
import { ActivitySummary } from "./server/activity-summary.js";
import { DEFAULT_TENANT } from "./server/auth.js";
import { HealthMonitor } from "./server/health-monitor.js";
import { SessionActivity } from "./server/session-activity.js";
import { SessionEvents } from "./server/session-events.js";
import { createLogger, type Logger } from "./runtime/logger.js";
import { startServer } from "./server/server.js";
import { AddressInUse } from "./server/address-in-use.js";
import { RotatingTlsCredentials } from "./server/tls-credentials.js";
import { startMetricsServer, type RunningMetricsServer } from "./metrics/metrics-server.js";
import { SidecarMetrics } from "./metrics/sidecar-metrics.js";
import { addStoreGauges } from "./metrics/store-gauges.js";
import { SessionError } from "./session/errors.js";
import type { Store } from "./store/store.js";
import { Sweeper } from "./store/sweeper.js";
import { statsCommand, watchCommand } from "./cli/monitor-commands.js";
import { sessionsCommand } from "./cli/sessions-command.js";
import { openStore } from "./cli/open-store.js";
import { EXIT_FAILURE, EXIT_USAGE } from "./cli/exit.js";
import { exportCommand, importCommand } from "./cli/transfer-commands.js";
import { backupCommand, checkCommand, restoreCommand } from "./cli/sqlite-file-commands.js";


/** How often readiness is checked against the store. */
const HEALTH_PROBE_INTERVAL_MS = 1000;

/** How often the tokens file is read again: a rotated or revoked token takes effect within this. */
const TOKENS_POLL_MS = 2000;

/**
 * Liveness: the event loop blocked for longer than 2 s means every bridge's
 * writes waited as long, far past any healthy commit (tens of ms); reported
 * for 10 s after, one period of the documented livenessProbe, so that the
 * next probe hears of it. A restart takes several failed probes in a row
 * (failureThreshold), so only a loop that keeps stalling is restarted.
 */
const LIVENESS = { maxDelayMs: 2000, holdMs: 10_000, sampleMs: 500 };

const SERVE_HELP_AFTER = `
Settings come from, later winning: built-in defaults, the --config file (JSON or
YAML; keys camelCase like maxSessions or kebab-case like max-sessions), the
SESSIONSTORE_* environment, then these flags; an unknown SESSIONSTORE_*
variable or config key is refused. Durations are a number and a unit, ms, s,
m, h or d (days): 500ms, 300s, 24h, 1h30m, 7d; sizes are in bytes. A bad
setting, or a listen address in use, exits 2 with one line saying which.
SIGTERM or SIGINT drains in-flight calls and exits; a second signal exits at
once.`;

/** The `sessionstore` command line; argv as in process.argv (node and script first). */
export async function main(argv: string[]): Promise<void> {
  const program = new Command("sessionstore")
    .description("gRPC session-state sidecar for real-time voice bridges: resume a dropped call with its conversation intact")
    .version(readVersion(), "-V, --version", "print the version")
    // Set before adding commands, which inherit both: usage errors exit 2 and read "sessionstore: …".
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`sessionstore: ${text.replace(/^error: /, "")}`) });

  const serve = program
    .command("serve")
    .description("serve sessionstore.v1.SessionStoreService, health and reflection over gRPC")
    .addHelpText("after", SERVE_HELP_AFTER)
    .action(async (flags: Record<string, unknown>) => serveCommand(flags));
  for (const option of cliOptions()) serve.option(option.flags, option.description);

  for (const command of [checkCommand(), backupCommand(), restoreCommand(), sessionsCommand(), statsCommand(), watchCommand(), exportCommand(), importCommand()]) {
    program.addCommand(inheriting(command, program));
  }

  if (argv.length <= 2) {
    program.outputHelp();
    return;
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    // Commander has already printed the message (or the help or version that ended the parse).
    if (err.exitCode !== 0) process.exit(EXIT_USAGE);
  }
}

/**
 * addCommand, unlike command(), does not hand a command its parent's
 * settings: without this a bad flag of `sessions list` would exit 1 in
 * commander's own words instead of 2 in ours.
 */
function inheriting(command: Command, parent: Command): Command {
  command.copyInheritedSettings(parent);
  for (const sub of command.commands) inheriting(sub, command);
  return command;
}

async function serveCommand(flags: Record<string, unknown>): Promise<void> {
  const config = configOf(flags);
  const logger = createLogger(config.logLevel);
  const log = logger.child({ module: "main" });
  const rules = rulesOf(config);
  let tokens: ReturnType<typeof loadTokens>;
  try {
    tokens = loadTokens(config);
  } catch (err) {
    return failStart(err instanceof Invalid ? new ConfigError([err.message]) : err);
  }
  const table = new TokenTable(tokens.grants);
  const auth = new Authenticator(table, config.authTokens.length > 0 || config.authTokensFile !== "");
  log.debug({ config: describe(config), authTenants: table.tenants() }, "configuration");

  let store: Store;
  try {
    store = await openStore(config, rules, logger);
  } catch (err) {
    return failStart(err, `cannot open the ${config.storage} store`);
  }

  let tls: RotatingTlsCredentials | undefined;
  try {
    tls = config.tlsListen === "" ? undefined : tlsCredentialsOf(config, logger);
  } catch (err) {
    await store.close().catch(() => undefined);
    return failStart(err, "cannot load the TLS certificate");
  }

  const metrics = config.metricsListen === "" ? undefined : new SidecarMetrics();
  if (metrics) {
    addStoreGauges(metrics.registry, {
      store,
      // The tenants named at start: one added to the tokens file later is not labelled until a restart.
      tenants: auth.enabled ? table.tenants() : [DEFAULT_TENANT],
      sqlitePath: config.storage === "sqlite" ? config.sqlitePath : undefined,
      redisConnected: "connected" in store ? () => (store as { connected: boolean }).connected : undefined,
    });
  }
  const events = new SessionEvents(logger.child({ module: "events" }));
  const activity = new SessionActivity(events, systemClock, logger.child({ module: "calls" }));
  if (store.openEventRelay) {
    try {
      await events.connect(store.openEventRelay());
    } catch (err) {
      tls?.close();
      await store.close().catch(() => undefined);
      return failStart(err, "cannot subscribe to the other sidecars' session events");
    }
  }

  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({
      listen: config.listen,
      ...(tls === undefined ? {} : { tls: { listen: config.tlsListen, credentials: tls } }),
      store,
      rules,
      logger,
      maxMessageBytes: config.maxMessageBytes,
      maxConcurrentStreams: config.maxConcurrentStreams,
      receiveWindowBytes: config.receiveWindowBytes,
      updateQueueTimeoutMs: config.updateQueueTimeoutMs,
      auth,
      cleanupBatchSize: config.cleanupBatchSize,
      metrics,
      events,
      activity,
    });
  } catch (err) {
    tls?.close();
    await events.disconnect().catch(() => undefined);
    await store.close().catch(() => undefined);
    return failStart(err);
  }

  let metricsServer: RunningMetricsServer | undefined;
  if (metrics) {
    try {
      metricsServer = await startMetricsServer(config.metricsListen, metrics.registry, logger);
    } catch (err) {
      await server.shutdown(0);
      tls?.close();
      await store.close().catch(() => undefined);
      return failStart(err, err instanceof AddressInUse ? undefined : `cannot serve metrics on ${config.metricsListen}`);
    }
  }

  const sweeper = new Sweeper(store, {
    intervalMs: config.cleanupIntervalMs,
    batchSize: config.cleanupBatchSize,
    maxSessionAgeMs: config.maxSessionAgeMs,
    clock: systemClock,
    logger,
    metrics,
    onExpired: (tenant, ids) => activity.expired(tenant, ids),
    onAbandoned: (tenant, sessions) => {
      for (const session of sessions) activity.ended(tenant, session);
    },
  });
  const summary = new ActivitySummary({
    intervalMs: config.metricsIntervalMs,
    activity,
    store,
    tenants: auth.enabled ? table.tenants() : [DEFAULT_TENANT],
    logger,
  });
  const health = new HealthMonitor({
    // Overloaded for long, the sidecar asks to be sent no new calls; the calls it has keep writing.
    probe: async () => {
      if (server.overloaded) throw new Error("update streams have been held back for a full commit queue, or updates refused as OVERLOADED, for several seconds");
      await store.ping().then(
        () => metrics?.storageProbed(true),
        (err: unknown) => {
          metrics?.storageProbed(false);
          throw err;
        },
      );
    },
    report: (ready) => server.setReady(ready),
    intervalMs: HEALTH_PROBE_INTERVAL_MS,
    logger,
  });
  const tokensWatch = new TokensWatch({ auth, load: () => loadTokens(config), loaded: tokens.fingerprint, intervalMs: TOKENS_POLL_MS, logger });
  const liveness = new EventLoopWatch({ ...LIVENESS, report: (live) => server.setLive(live), logger });
  // Signal handlers go in before "listening" is announced: whoever waits for
  // that line may stop the sidecar at once, and must get a clean drain.
  stopOnSignals(log, async () => {
    // The monitor stops first so that no late probe turns SERVING on again.
    await health.stop();
    tokensWatch.stop();
    // Unready first, so probes and load balancers stop sending new calls while old ones finish.
    // Liveness stays as it is: a draining sidecar is alive, and a restart would cut the drain short.
    server.setReady(false);
    await server.shutdown(config.shutdownGraceMs);
    // Metrics stay up through the drain, so its last seconds are scraped too.
    await metricsServer?.close();
    await sweeper.stop();
    summary.stop();
    await events.disconnect();
    await store.close();
    liveness.stop();
    tls?.close();
  });
  sweeper.start();
  summary.start();
  health.start();
  if (config.authTokensFile !== "") tokensWatch.start();
  liveness.start();
  log.info(
    {
      address: server.address,
      ...(server.tlsAddress === undefined ? {} : { tlsAddress: server.tlsAddress }),
      ...(metricsServer ? { metrics: `http://${metricsServer.address}/metrics` } : {}),
      ...describeStorage(config),
    },
    "listening",
  );
}

function tlsCredentialsOf(config: Config, logger: Logger): RotatingTlsCredentials {
  const files = { cert: config.tlsCert, key: config.tlsKey, clientCa: config.tlsClientCa };
  return new RotatingTlsCredentials(files, config.tlsReloadIntervalMs, logger);
}

/** Which store serves, and where, for the "listening" line: never a password. */
function describeStorage(config: Config): Record<string, unknown> {
  if (config.storage === "sqlite") return { storage: "sqlite", sqlitePath: config.sqlitePath, sqliteSynchronous: config.sqliteSynchronous };
  if (config.storage === "redis") {
    const sentinels = config.redisSentinels.length > 0 ? { redisSentinels: config.redisSentinels.map((n) => `${n.host}:${n.port}`).join(","), redisSentinelName: config.redisSentinelName } : {};
    const cluster = config.redisClusterNodes.length > 0 ? { redisClusterNodes: config.redisClusterNodes.map((n) => `${n.host}:${n.port}`).join(",") } : {};
    return { storage: "redis", redisUrl: redactedUrl(config.redisUrl), ...sentinels, ...cluster, redisKeyPrefix: config.redisKeyPrefix, redisMinReplicas: config.redisMinReplicas };
  }
  return { storage: config.storage };
}

function stopOnSignals(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting without waiting for the drain");
      process.exit(EXIT_FAILURE);
    }
    stopping = true;
    log.info({ signal }, "draining");
    stop().then(
      () => {
        log.info("stopped");
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(EXIT_FAILURE);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

/**
 * One line on stderr and the exit. Failures an operator can cause and fix (bad
 * settings, an unusable database file, a port in use) carry messages that say
 * what to do, and a stack trace would only bury them; anything else is a bug,
 * so its stack is printed too.
 */
/** The settings from the command's flags, the environment and the config file; exits with a usage error when they are wrong. */
function configOf(flags: Record<string, unknown>): Config {
  try {
    return loadConfig({ argv: flags, env: process.env, cwd: process.cwd() });
  } catch (err) {
    return failStart(err);
  }
}

function failStart(err: unknown, context?: string): never {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`sessionstore: ${context === undefined ? "" : `${context}: `}${message}\n`);
  if (!isExpected(err) && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`);
  process.exit(err instanceof ConfigError || err instanceof AddressInUse ? EXIT_USAGE : EXIT_FAILURE);
}

function isExpected(err: unknown): boolean {
  if (err instanceof ConfigError || err instanceof SessionError || err instanceof AddressInUse) return true;
  if (!(err instanceof Error)) return false;
  // System and driver errors (EADDRINUSE, SQLITE_CORRUPT, …) carry a code; plain
  // Errors are what the stores and server throw on purpose, with a message to act on.
  return typeof (err as { code?: unknown }).code === "string" || Object.getPrototypeOf(err) === Error.prototype;
}

/** The configuration as it is safe to log: never tokens (their tenants are logged beside it); the Redis URL without its password. */
function describe(config: Config): Record<string, unknown> {
  return { ...config, redisUrl: redactedUrl(config.redisUrl), redisSentinelPassword: config.redisSentinelPassword === "" ? "" : "***", authTokens: undefined };
}

/** The tokens of --auth-tokens and of the tokens file together; a token in both is refused, as within one source. */
function loadTokens(config: Config): { grants: TokenGrant[]; fingerprint: string } {
  if (config.authTokensFile === "") return { grants: config.authTokens, fingerprint: "" };
  const file = readTokensFile(config.authTokensFile);
  const grants = [...config.authTokens, ...file.grants];
  checkDistinct(grants.map((grant, i) => ({ grant, where: i < config.authTokens.length ? `auth-tokens entry ${i + 1}` : `auth-tokens-file entry ${i + 1 - config.authTokens.length}` })), true);
  return { grants, fingerprint: file.fingerprint };
}

// Read at run time rather than imported, so it works from dist/ without copying package.json into it.
function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}
