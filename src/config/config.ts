import { readFileSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";
import {
  duration,
  HTTP2_WINDOW_MAX,
  INT32_MAX,
  integer,
  Invalid,
  isPlainObject,
  LOG_LEVELS,
  type LogLevel,
  readListen,
  readOptionalListen,
  readOptionalPath,
  readMetricsListen,
  readLogLevel,
  readKeyPrefix,
  readPath,
  readName,
  readRedisNodes,
  readRedisUrl,
  type RedisNode,
  readSqliteSynchronous,
  readStorage,
  readSwitch,
  type SqliteSynchronous,
  type StorageKind,
  TIMER_LIMIT_MS,
} from "./config-values.js";
import { readAuthTokens, type TokenGrant } from "./auth-tokens.js";
import { formatDuration } from "./duration.js";
import { unknownEnvProblems } from "./env-names.js";
import { defaultRules, type SessionRules } from "../session/rules.js";

export type { LogLevel, RedisNode, SqliteSynchronous, StorageKind };

/** Everything the sidecar is told at start; see FIELDS for each one's flag, env name and default. */
export interface Config {
  /** host:port (port 0 picks a free one), [v6]:port, or unix:/path. */
  listen: string;
  /** A second address, served with TLS; "" for none. */
  tlsListen: string;
  /** PEM certificate chain and private key of --tls-listen; absolute, or "" when TLS is off. */
  tlsCert: string;
  tlsKey: string;
  /** PEM CA bundle that client certificates must chain to (mTLS); "" accepts clients without one. */
  tlsClientCa: string;
  /** How often the three files above are read again, so that rotated certificates take effect. */
  tlsReloadIntervalMs: number;
  /** host:port of the Prometheus /metrics endpoint (port 0 picks a free one); empty: no endpoint. */
  metricsListen: string;
  storage: StorageKind;
  /** Absolute: resolved against the working directory. */
  sqlitePath: string;
  /** When a commit is fsynced: at checkpoints (normal) or on every commit (full). */
  sqliteSynchronous: SqliteSynchronous;
  /** redis:// or rediss:// (TLS); may carry a password, so never log it as it is. */
  redisUrl: string;
  redisKeyPrefix: string;
  redisConnectTimeoutMs: number;
  /** Refuse to start on a Redis whose acknowledged writes would not survive its crash. */
  redisRequireDurable: boolean;
  /** Sentinels to ask where the primary is; empty: connect to redisUrl's host itself. */
  redisSentinels: RedisNode[];
  /** The name the Sentinels monitor the primary under. */
  redisSentinelName: string;
  /** Password of the Sentinels themselves ("" for none); the data nodes' comes from redisUrl. Never log it. */
  redisSentinelPassword: string;
  /** Nodes of a Redis Cluster to connect to; empty: no Cluster. */
  redisClusterNodes: RedisNode[];
  /** Replicas that must have each write (WAIT) before it is acknowledged; 0: the primary's answer is enough. */
  redisMinReplicas: number;
  /** How long a write waits for those replicas before it is answered UNAVAILABLE. */
  redisMinReplicasTimeoutMs: number;
  maxSessions: number;
  /** Live sessions one tenant may hold; 0: only maxSessions applies. */
  maxSessionsPerTenant: number;
  maxSessionAgeMs: number;
  maxResumeAgeMs: number;
  maxResumeAttempts: number;
  /** A session PAUSED for longer is ended as "abandoned" by the sweeper; 0: never. */
  pauseGraceMs: number;
  cleanupIntervalMs: number;
  cleanupBatchSize: number;
  audioBufferMaxBytes: number;
  maxHistoryBytes: number;
  maxItemsPerUpdate: number;
  maxItemBytes: number;
  maxHeaderBytes: number;
  maxMessageBytes: number;
  maxConcurrentStreams: number;
  receiveWindowBytes: number;
  updateQueueTimeoutMs: number;
  shutdownGraceMs: number;
  logLevel: LogLevel;
  /** How often the activity summary line is logged; 0 for never. */
  metricsIntervalMs: number;
  /** Bearer tokens, their tenants and roles. With these and authTokensFile empty, auth is off and every caller is tenant "default" with every right. */
  authTokens: TokenGrant[];
  /** A file (or a directory of files, a mounted Secret) of more tokens, re-read while serving; "" for none. */
  authTokensFile: string;
}

/** Every problem found in the configuration, so one start attempt reports them all. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join("; ")}`);
    this.name = "ConfigError";
  }
}

interface Field<T> {
  /** The flag without dashes; env and config-file names derive from it. */
  flag: string;
  placeholder: string;
  help: string;
  /** Written the way a user would write it, and read by the same code as their input. */
  default: string;
  read(value: unknown, cwd: string): T;
}

const FIELDS: { [K in keyof Config]: Field<Config[K]> } = {
  listen: {
    flag: "listen", placeholder: "<address>", default: "127.0.0.1:50051", read: readListen,
    help: "gRPC address: host:port (port 0 picks a free one), [ipv6]:port or unix:/path",
  },
  tlsListen: {
    flag: "tls-listen", placeholder: "<address>", default: "", read: readOptionalListen,
    help: "a second gRPC address, served with TLS (needs --tls-cert and --tls-key), e.g. the pod address while --listen stays on loopback; empty for none",
  },
  tlsCert: {
    flag: "tls-cert", placeholder: "<file>", default: "", read: readOptionalPath,
    help: "PEM certificate (chain) of --tls-listen; re-read when it changes",
  },
  tlsKey: {
    flag: "tls-key", placeholder: "<file>", default: "", read: readOptionalPath,
    help: "PEM private key of --tls-cert; re-read when it changes",
  },
  tlsClientCa: {
    flag: "tls-client-ca", placeholder: "<file>", default: "", read: readOptionalPath,
    help: "PEM CA certificates: --tls-listen then requires a client certificate signed by one of them (mTLS); re-read when it changes",
  },
  tlsReloadIntervalMs: {
    flag: "tls-reload-interval", placeholder: "<duration>", default: "5s", read: duration(1, TIMER_LIMIT_MS),
    help: "how often the TLS files are read again; a changed, valid certificate is used for new connections, open ones keep theirs",
  },
  metricsListen: {
    flag: "metrics-listen", placeholder: "<address>", default: "", read: readMetricsListen,
    help: "serve Prometheus metrics over HTTP at /metrics on host:port or [ipv6]:port (port 0 picks a free one); empty (the default) serves none",
  },
  storage: {
    flag: "storage", placeholder: "<kind>", default: "sqlite", read: readStorage,
    help: "session storage: sqlite (a file, survives restarts), memory (lost on exit) or redis (shared by the sidecars of many pods)",
  },
  sqlitePath: {
    flag: "sqlite-path", placeholder: "<file>", default: "./data/sessionstore.db", read: readPath,
    help: "SQLite database file, relative to the working directory; created when missing",
  },
  sqliteSynchronous: {
    flag: "sqlite-synchronous", placeholder: "<mode>", default: "normal", read: readSqliteSynchronous,
    help: "when SQLite fsyncs: normal (an acknowledged write survives the sidecar being killed; the last ones may be lost on power loss or a kernel crash) or full (fsync on every commit: survives power loss too)",
  },
  redisUrl: {
    flag: "redis-url", placeholder: "<url>", default: "redis://127.0.0.1:6379", read: readRedisUrl,
    help: "Redis for --storage redis: redis://[user:password@]host[:port][/db], or rediss://… for TLS",
  },
  redisKeyPrefix: {
    flag: "redis-key-prefix", placeholder: "<prefix>", default: "sessionstore:", read: readKeyPrefix,
    help: "put before every Redis key, so several deployments can share one Redis",
  },
  redisConnectTimeoutMs: {
    flag: "redis-connect-timeout", placeholder: "<duration>", default: "5s", read: duration(1, TIMER_LIMIT_MS),
    help: "how long connecting to Redis, and each Redis command, may take before the call fails as UNAVAILABLE",
  },
  redisRequireDurable: {
    flag: "redis-require-durable", placeholder: "[bool]", default: "false", read: readSwitch,
    help: "refuse to start unless Redis reports appendonly yes and appendfsync always (otherwise a warning is logged)",
  },
  redisSentinels: {
    flag: "redis-sentinels", placeholder: "<host:port,...>", default: "", read: readRedisNodes,
    help: "Redis Sentinels (host:port, comma-separated) that say where the primary is; the sidecar follows a failover without a restart. --redis-url then gives only the data nodes' user, password, database and TLS (rediss://), not their address",
  },
  redisSentinelName: {
    flag: "redis-sentinel-name", placeholder: "<name>", default: "mymaster", read: readName,
    help: "with --redis-sentinels: the name the Sentinels monitor the primary under (sentinel monitor <name> ...)",
  },
  redisSentinelPassword: {
    flag: "redis-sentinel-password", placeholder: "<password>", default: "", read: (value) => (value === "" ? "" : readName(value)),
    help: "with --redis-sentinels: the Sentinels' own password (their requirepass), when they have one; spoken over TLS when --redis-url is rediss://",
  },
  redisClusterNodes: {
    flag: "redis-cluster-nodes", placeholder: "<host:port,...>", default: "", read: readRedisNodes,
    help: "nodes of a Redis Cluster (host:port, comma-separated; some suffice, the rest are learned); sessions spread over its slots. --redis-url then gives only the nodes' user, password and TLS (rediss://)",
  },
  redisMinReplicas: {
    flag: "redis-min-replicas", placeholder: "<n>", default: "0", read: integer(0, 100),
    help: "acknowledge a write only once this many Redis replicas have it (WAIT after each commit), so that it survives a failover; fewer within --redis-min-replicas-timeout fails the write with UNAVAILABLE. 0: the primary's answer is the acknowledgement",
  },
  redisMinReplicasTimeoutMs: {
    flag: "redis-min-replicas-timeout", placeholder: "<duration>", default: "1s", read: duration(1, TIMER_LIMIT_MS),
    help: "with --redis-min-replicas: how long a write waits for the replicas before it is answered UNAVAILABLE (must be shorter than --redis-connect-timeout)",
  },
  maxSessions: {
    flag: "max-sessions", placeholder: "<n>", default: String(defaultRules.maxSessions), read: integer(1),
    help: "live (not ended) sessions held at most; creating more fails with RESOURCE_EXHAUSTED",
  },
  maxSessionsPerTenant: {
    flag: "max-sessions-per-tenant", placeholder: "<n>", default: "0", read: integer(0),
    help: "live sessions one tenant may hold, so that one tenant cannot take every place under --max-sessions; 0 leaves only --max-sessions",
  },
  maxSessionAgeMs: {
    flag: "max-session-age", placeholder: "<duration>", default: formatDuration(defaultRules.maxSessionAgeMs),
    read: duration(1), help: "a session idle for longer is expired: hidden from reads and swept",
  },
  maxResumeAgeMs: {
    flag: "max-resume-age", placeholder: "<duration>", default: formatDuration(defaultRules.maxResumeAgeMs),
    read: duration(1), help: "a session idle for longer can no longer be resumed",
  },
  maxResumeAttempts: {
    flag: "max-resume-attempts", placeholder: "<n>", default: String(defaultRules.maxResumeAttempts),
    read: integer(0), help: "resumes allowed per session (0 turns resume off)",
  },
  pauseGraceMs: {
    flag: "pause-grace", placeholder: "<duration>", default: formatDuration(defaultRules.pauseGraceMs), read: duration(0),
    help: 'a session PAUSED (no activity) for longer is ended with end_reason "abandoned" at the next sweep, freeing its max-sessions place; 0s never ends one',
  },
  cleanupIntervalMs: {
    flag: "cleanup-interval", placeholder: "<duration>", default: "300s", read: duration(1, TIMER_LIMIT_MS),
    help: "how often expired sessions are swept (and abandoned ones ended, see --pause-grace)",
  },
  cleanupBatchSize: {
    flag: "cleanup-batch-size", placeholder: "<n>", default: "100", read: integer(1),
    help: "sessions deleted per transaction when sweeping",
  },
  audioBufferMaxBytes: {
    flag: "audio-buffer-max-bytes", placeholder: "<bytes>", default: String(defaultRules.audioBufferMaxBytes),
    read: integer(1), help: "audio kept per session; the oldest chunks drop first (960000 = 30 s of 16 kHz PCM16)",
  },
  // Why these defaults: src/session/rules.ts.
  maxHistoryBytes: {
    flag: "max-history-bytes", placeholder: "<bytes>", default: String(defaultRules.maxHistoryBytes), read: integer(1),
    help: "encoded bytes of history items and function calls one session may be written in total (each upsert counts in full); more fails with RESOURCE_EXHAUSTED (LIMIT_EXCEEDED)",
  },
  maxItemsPerUpdate: {
    flag: "max-items-per-update", placeholder: "<n>", default: String(defaultRules.maxItemsPerUpdate), read: integer(1),
    help: "history items plus function calls one update (or create) may carry; more fails with INVALID_ARGUMENT",
  },
  maxItemBytes: {
    flag: "max-item-bytes", placeholder: "<bytes>", default: String(defaultRules.maxItemBytes), read: integer(1),
    help: "encoded bytes of one history item or function call; larger fails with INVALID_ARGUMENT",
  },
  maxHeaderBytes: {
    flag: "max-header-bytes", placeholder: "<bytes>", default: String(defaultRules.maxHeaderBytes), read: integer(1),
    help: "encoded bytes of a session's header (metadata, audio_metadata and every other field but history, calls and audio); a write leaving it larger fails with RESOURCE_EXHAUSTED (LIMIT_EXCEEDED)",
  },
  maxMessageBytes: {
    flag: "max-message-bytes", placeholder: "<bytes>", default: "4194304", read: integer(1, INT32_MAX),
    help: "largest gRPC request accepted",
  },
  // One call in flight per call of a bridge serving 1,000; a client over it
  // waits for a stream to close (HTTP/2 queues the request) rather than failing,
  // and a runaway client cannot hold unbounded streams (grpc-js sets no limit).
  maxConcurrentStreams: {
    flag: "max-concurrent-streams", placeholder: "<n>", default: "1000", read: integer(1, INT32_MAX),
    help: "concurrent calls (HTTP/2 streams) per client connection; a client waits for one to end before opening more",
  },
  // Node's HTTP/2 default of 64 KiB held a stream of a few hundred calls to a
  // fraction of what the sidecar commits (see src/grpc/receive-window.ts); a
  // MiB is a few seconds of such a stream's audio, and bounds what one
  // connection can make the sidecar hold unread to 2 MiB.
  receiveWindowBytes: {
    flag: "http2-receive-window", placeholder: "<bytes>", default: "1048576", read: integer(65_535, HTTP2_WINDOW_MAX),
    help: "HTTP/2 flow-control window: bytes each call of a client connection may send ahead of the sidecar's reading (the connection gets twice this)",
  },
  updateQueueTimeoutMs: {
    flag: "update-queue-timeout", placeholder: "<duration>", default: "500ms", read: duration(0, TIMER_LIMIT_MS),
    help: "an update that waits longer for its commit is refused as OVERLOADED (UNAVAILABLE) for the bridge to resend later; past capacity, update streams are read only as far as a quarter of it commits; 0s waits without limit",
  },
  shutdownGraceMs: {
    flag: "shutdown-grace", placeholder: "<duration>", default: "10s", read: duration(0, TIMER_LIMIT_MS),
    help: "how long SIGTERM waits for in-flight calls before cancelling them",
  },
  logLevel: {
    flag: "log-level", placeholder: "<level>", default: "info", read: readLogLevel,
    help: `log level: ${LOG_LEVELS.join(", ")}`,
  },
  metricsIntervalMs: {
    flag: "metrics-interval", placeholder: "<duration>", default: "60s", read: duration(0, TIMER_LIMIT_MS),
    help: "how often an info line sums up the calls since the last one (live sessions by status, updates, resumes, fenced writes); 0s for never",
  },
  authTokens: {
    flag: "auth-tokens", placeholder: "<pairs>", default: "", read: readAuthTokens,
    help: 'comma-separated token=tenant[:role] pairs for "authorization: Bearer <token>", role bridge (the default) or admin; empty, with no --auth-tokens-file, turns auth off (every caller is tenant "default")',
  },
  authTokensFile: {
    flag: "auth-tokens-file", placeholder: "<path>", default: "", read: (value, cwd) => (value === "" ? "" : readPath(value, cwd)),
    help: "a file of token=tenant[:role] lines, or a directory of such files (a mounted Kubernetes Secret), re-read every few seconds while serving; turns auth on",
  },
};

const KEYS = Object.keys(FIELDS) as (keyof Config)[];

/** Each setting's winning raw value so far, and where it came from, for error messages. */
type Chosen = Map<keyof Config, { value: unknown; source: string }>;

export interface LoadConfigOptions {
  /** Options as commander parsed them (camelCase flag names); absent ones undefined. */
  argv?: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  /** Relative paths (config file, SQLite file) are resolved against it. */
  cwd: string;
}

/**
 * The configuration from, later winning: defaults < config file (--config or
 * SESSIONSTORE_CONFIG) < SESSIONSTORE_* environment < flags. Throws one
 * ConfigError listing every problem, each naming its field and source.
 */
export function loadConfig({ argv = {}, env, cwd }: LoadConfigOptions): Config {
  const problems: string[] = [];
  const chosen: Chosen = new Map();
  for (const key of KEYS) chosen.set(key, { value: FIELDS[key].default, source: "default" });

  const fileFlag = stringOrUndefined(argv.config);
  const file = fileFlag ?? nonEmptyEnv(env.SESSIONSTORE_CONFIG);
  if (file !== undefined) {
    const source = fileFlag !== undefined ? "--config" : "SESSIONSTORE_CONFIG";
    readConfigFile(path.resolve(cwd, file), source, chosen, problems);
  }
  for (const key of KEYS) {
    const name = envName(FIELDS[key].flag);
    const value = nonEmptyEnv(env[name]);
    if (value !== undefined) chosen.set(key, { value, source: name });
  }
  problems.push(...unknownEnvProblems(env, KEYS.map((key) => envName(FIELDS[key].flag))));
  for (const key of KEYS) {
    const value = argv[camelCase(FIELDS[key].flag)];
    if (value !== undefined) chosen.set(key, { value, source: `--${FIELDS[key].flag}` });
  }
  return validate(chosen, cwd, problems);
}

/** The one place values are checked and converted. */
function validate(chosen: Chosen, cwd: string, problems: string[]): Config {
  const config: Partial<Record<keyof Config, unknown>> = {};
  for (const key of KEYS) {
    const { flag } = FIELDS[key];
    const { value, source } = chosen.get(key) as { value: unknown; source: string };
    try {
      config[key] = FIELDS[key].read(value, cwd);
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      problems.push(err.sentence ? `${err.message} (from ${source})` : `${flag} (from ${source}) ${err.message}`);
    }
  }
  if (problems.length === 0) problems.push(...tlsProblems(config as Config, chosen), ...redisProblems(config as Config, chosen));
  if (problems.length > 0) throw new ConfigError(problems);
  return config as Config;
}

/** The TLS settings only make sense together: a listener with a certificate and its key. */
function tlsProblems(config: Config, chosen: Chosen): string[] {
  const from = (key: keyof Config) => `--${FIELDS[key].flag} (from ${chosen.get(key)?.source ?? "default"})`;
  const problems: string[] = [];
  if (config.tlsListen !== "") {
    for (const key of ["tlsCert", "tlsKey"] as const) {
      if (config[key] === "") problems.push(`${from("tlsListen")} needs --${FIELDS[key].flag} too`);
    }
  } else {
    for (const key of ["tlsCert", "tlsKey", "tlsClientCa"] as const) {
      if (config[key] !== "") problems.push(`${from(key)} is set but --tls-listen is not: no listener would use it`);
    }
  }
  // Port 0 picks a free port for each, so the same text is two addresses then.
  if (config.tlsListen !== "" && config.tlsListen === config.listen && !config.listen.endsWith(":0")) {
    problems.push(`${from("tlsListen")} must differ from --listen: one address cannot serve both plaintext and TLS`);
  }
  return problems;
}

/** The replica wait must end before the command timeout, or every short-handed write would time out instead of saying why. */
function redisProblems(config: Config, chosen: Chosen): string[] {
  const from = (key: keyof Config) => `--${FIELDS[key].flag} (from ${chosen.get(key)?.source ?? "default"})`;
  const problems: string[] = [];
  if (config.redisClusterNodes.length > 0 && config.redisSentinels.length > 0) {
    problems.push(`${from("redisClusterNodes")} and ${from("redisSentinels")} exclude each other: a Cluster fails over by itself`);
  }
  // A Cluster has database 0 only; a URL naming another would be ignored without a word.
  if (config.redisClusterNodes.length > 0 && !/^\/?0?$/.test(new URL(config.redisUrl).pathname)) {
    problems.push(`${from("redisUrl")} names a database, which a Redis Cluster does not have (only 0): drop the /<db> with ${from("redisClusterNodes")}`);
  }
  // WAIT counts the writes of one connection to one node; a Cluster spreads a call's writes over several.
  if (config.redisClusterNodes.length > 0 && config.redisMinReplicas > 0) {
    problems.push(`${from("redisMinReplicas")} is not supported with ${from("redisClusterNodes")}: it needs one primary (standalone or behind Sentinels)`);
  }
  if (config.redisMinReplicas > 0 && config.redisMinReplicasTimeoutMs >= config.redisConnectTimeoutMs) {
    problems.push(`${from("redisMinReplicasTimeoutMs")} must be shorter than ${from("redisConnectTimeoutMs")}, which bounds every Redis command, the wait for replicas included`);
  }
  return problems;
}

function readConfigFile(file: string, pathSource: string, chosen: Chosen, problems: string[]): void {
  const source = `config file ${file}`;
  const ext = path.extname(file).toLowerCase();
  if (![".json", ".yaml", ".yml"].includes(ext)) {
    problems.push(`config file ${file} (from ${pathSource}) must end in .json, .yaml or .yml`);
    return;
  }
  let data: unknown;
  try {
    const text = readFileSync(file, "utf8");
    data = ext === ".json" ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    // YAML's messages carry a multi-line code frame; the first line says what and where.
    const reason = (err instanceof Error ? err.message : String(err)).split("\n")[0]?.replace(/:\s*$/, "");
    problems.push(`config file ${file} (from ${pathSource}) cannot be read: ${reason}`);
    return;
  }
  if (data === null || data === undefined) return; // an empty file sets nothing
  if (!isPlainObject(data)) {
    problems.push(`${source} must hold an object of settings`);
    return;
  }
  const seen = new Map<keyof Config, string>();
  for (const [name, value] of Object.entries(data)) {
    const key = KEYS.find((k) => FIELDS[k].flag === name || camelCase(FIELDS[k].flag) === name);
    if (key === undefined) {
      problems.push(`unknown key "${name}" in ${source}${suggestion(name)}`);
      continue;
    }
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      problems.push(`${FIELDS[key].flag} is given twice in ${source}, as "${earlier}" and "${name}"`);
      continue;
    }
    seen.set(key, name);
    // `key:` with nothing after it (YAML null) reads as "not set", like a commented-out line.
    if (value !== null) chosen.set(key, { value, source });
  }
}

/** " (did you mean …?)" when the unknown key is a known one spelled in another case or with an Ms suffix. */
function suggestion(name: string): string {
  const simplify = (s: string) => s.toLowerCase().replace(/[-_]/g, "").replace(/ms$/, "");
  const key = KEYS.find((k) => simplify(FIELDS[k].flag) === simplify(name));
  return key === undefined ? "" : ` (did you mean "${camelCase(FIELDS[key].flag)}"?)`;
}

/** The limits the session rules need, taken from the configuration. */
export function rulesOf(config: Config): SessionRules {
  return {
    maxSessions: config.maxSessions,
    maxSessionsPerTenant: config.maxSessionsPerTenant,
    maxSessionAgeMs: config.maxSessionAgeMs,
    maxResumeAgeMs: config.maxResumeAgeMs,
    maxResumeAttempts: config.maxResumeAttempts,
    pauseGraceMs: config.pauseGraceMs,
    audioBufferMaxBytes: config.audioBufferMaxBytes,
    maxHistoryBytes: config.maxHistoryBytes,
    maxItemsPerUpdate: config.maxItemsPerUpdate,
    maxItemBytes: config.maxItemBytes,
    maxHeaderBytes: config.maxHeaderBytes,
  };
}

export interface CliOption {
  /** Commander's flags text, e.g. "--max-sessions <n>". */
  flags: string;
  description: string;
}

/**
 * The serve command's options, with help text naming each default and env var.
 * Commander is given no defaults: a default there would be indistinguishable
 * from a flag and so would override the config file and environment.
 */
export function cliOptions(): CliOption[] {
  const options: CliOption[] = [{ flags: "--config <file>", description: "config file, JSON or YAML by extension (env SESSIONSTORE_CONFIG)" }];
  for (const key of KEYS) {
    const field = FIELDS[key];
    const shown = field.default === "" ? "empty" : field.default;
    options.push({
      flags: `--${field.flag} ${field.placeholder}`,
      description: `${field.help} (default: ${shown}; env ${envName(field.flag)})`,
    });
  }
  return options;
}

/** SESSIONSTORE_ + the flag in upper snake case: --max-sessions → SESSIONSTORE_MAX_SESSIONS. */
function envName(flag: string): string {
  return `SESSIONSTORE_${flag.replace(/-/g, "_").toUpperCase()}`;
}

function camelCase(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

// An empty variable counts as unset: `-e SESSIONSTORE_LISTEN=` in a manifest means "not given".
// Unknown SESSIONSTORE_* variables are refused (env-names.ts), Kubernetes service links excepted.
function nonEmptyEnv(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
