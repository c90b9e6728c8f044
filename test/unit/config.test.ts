import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { cliOptions, type Config, ConfigError, loadConfig, rulesOf } from "../../src/config/config.js";
import { defaultRules } from "../../src/session/rules.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sessionstore-config-"));
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The ConfigError a load throws; fails the test when it loads fine. */
function problemsOf(options: Parameters<typeof loadConfig>[0]): ConfigError {
  try {
    loadConfig(options);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("uses the documented defaults when nothing is given", () => {
    const config = loadConfig({ env: {}, cwd: dir });
    expect(config).toEqual<Config>({
      listen: "127.0.0.1:50051",
      tlsListen: "",
      tlsCert: "",
      tlsKey: "",
      tlsClientCa: "",
      tlsReloadIntervalMs: 5000,
      metricsListen: "",
      storage: "sqlite",
      sqlitePath: join(dir, "data/sessionstore.db"),
      sqliteSynchronous: "normal",
      redisUrl: "redis://127.0.0.1:6379",
      redisKeyPrefix: "sessionstore:",
      redisConnectTimeoutMs: 5000,
      redisRequireDurable: false,
      redisSentinels: [],
      redisSentinelName: "mymaster",
      redisSentinelPassword: "",
      redisClusterNodes: [],
      redisMinReplicas: 0,
      redisMinReplicasTimeoutMs: 1000,
      maxSessions: 1000,
      maxSessionAgeMs: 24 * 3_600_000,
      maxResumeAgeMs: 24 * 3_600_000,
      maxResumeAttempts: 10,
      pauseGraceMs: 0,
      cleanupIntervalMs: 300_000,
      cleanupBatchSize: 100,
      audioBufferMaxBytes: 960_000,
      maxHistoryBytes: 1_048_576,
      maxItemsPerUpdate: 1000,
      maxItemBytes: 262_144,
      maxHeaderBytes: 65_536,
      maxMessageBytes: 4_194_304,
      maxConcurrentStreams: 1000,
      receiveWindowBytes: 1048576,
      updateQueueTimeoutMs: 500,
      shutdownGraceMs: 10_000,
      logLevel: "info",
      metricsIntervalMs: 60_000,
      authTokens: [],
      authTokensFile: "",
      maxSessionsPerTenant: 0,
    });
    expect(rulesOf(config)).toEqual(defaultRules);
  });

  it("layers defaults < JSON file < environment < flags", () => {
    const json = file(
      "config.json",
      JSON.stringify({ maxSessions: 5, maxResumeAttempts: 3, cleanupInterval: "10s", listen: "0.0.0.0:7000", "log-level": "debug" }),
    );
    const config = loadConfig({
      argv: { config: json, maxSessions: "7" },
      env: { SESSIONSTORE_MAX_SESSIONS: "6", SESSIONSTORE_CLEANUP_INTERVAL: "1m", SESSIONSTORE_STORAGE: "memory" },
      cwd: dir,
    });
    expect(config.maxSessions).toBe(7); // flag over env over file
    expect(config.cleanupIntervalMs).toBe(60_000); // env over file
    expect(config.storage).toBe("memory"); // env over default
    expect(config.maxResumeAttempts).toBe(3); // file over default
    expect(config.listen).toBe("0.0.0.0:7000");
    expect(config.logLevel).toBe("debug");
    expect(config.maxSessionAgeMs).toBe(24 * 3_600_000); // default
  });

  it("reads YAML with kebab-case keys, found through SESSIONSTORE_CONFIG", () => {
    file("sessionstore.yaml", "max-session-age: 1h30m\nsqlite-path: db/s.db\nauth-tokens:\n  tok-a-0123456789ab: acme\n  'c2VjcmV0LXRva2VuLTE==': 'globex:admin'\n");
    const config = loadConfig({ env: { SESSIONSTORE_CONFIG: "sessionstore.yaml", SESSIONSTORE_MAX_RESUME_AGE: "2h" }, cwd: dir });
    expect(config.maxSessionAgeMs).toBe(90 * 60_000);
    expect(config.maxResumeAgeMs).toBe(2 * 3_600_000);
    expect(config.sqlitePath).toBe(join(dir, "db/s.db"));
    expect(config.authTokens).toEqual([
      { token: "tok-a-0123456789ab", tenant: "acme", role: "bridge" },
      { token: "c2VjcmV0LXRva2VuLTE==", tenant: "globex", role: "admin" },
    ]);
  });

  it("prefers --config over SESSIONSTORE_CONFIG", () => {
    const chosen = file("a.yml", "maxSessions: 11\n");
    file("b.yml", "maxSessions: 22\n");
    expect(loadConfig({ argv: { config: chosen }, env: { SESSIONSTORE_CONFIG: "b.yml" }, cwd: dir }).maxSessions).toBe(11);
  });

  it("lets flags and env override the file's auth tokens, splitting token=tenant on the last '='", () => {
    const yaml = file("c.yaml", "authTokens: {old-0123456789abcdef: acme}\n");
    const fromEnv = loadConfig({ argv: { config: yaml }, env: { SESSIONSTORE_AUTH_TOKENS: " t1-0123456789abcdef=acme:admin , dG9rZW4tMDEyMzQ1Njc4OQ===globex:bridge ," }, cwd: dir });
    expect(fromEnv.authTokens).toEqual([
      { token: "t1-0123456789abcdef", tenant: "acme", role: "admin" },
      { token: "dG9rZW4tMDEyMzQ1Njc4OQ==", tenant: "globex", role: "bridge" },
    ]);
    const off = loadConfig({ argv: { config: yaml, authTokens: "" }, env: {}, cwd: dir });
    expect(off.authTokens).toEqual([]);
  });

  it("treats an empty environment variable, an empty file and a YAML null as not set", () => {
    const yaml = file("empty-value.yaml", "maxSessions:\n");
    expect(loadConfig({ argv: { config: yaml }, env: { SESSIONSTORE_MAX_SESSIONS: "" }, cwd: dir }).maxSessions).toBe(1000);
    expect(loadConfig({ argv: { config: file("empty.yaml", "") }, env: {}, cwd: dir }).maxSessions).toBe(1000);
  });

  it("accepts the variables Kubernetes sets for a Service named sessionstore or sessionstore-…, and the CLI's own", () => {
    const env = {
      SESSIONSTORE_PORT: "tcp://10.0.0.1:50051",
      SESSIONSTORE_SERVICE_HOST: "10.0.0.1",
      SESSIONSTORE_SERVICE_PORT: "50051",
      SESSIONSTORE_SERVICE_PORT_GRPC: "50051",
      SESSIONSTORE_PORT_50051_TCP: "tcp://10.0.0.1:50051",
      SESSIONSTORE_PORT_50051_TCP_PROTO: "tcp",
      SESSIONSTORE_PORT_50051_TCP_PORT: "50051",
      SESSIONSTORE_PORT_50051_TCP_ADDR: "10.0.0.1",
      SESSIONSTORE_METRICS_SERVICE_HOST: "10.0.0.2",
      SESSIONSTORE_METRICS_PORT_9464_TCP_ADDR: "10.0.0.2",
      SESSIONSTORE_ADDRESS: "127.0.0.1:50051",
      SESSIONSTORE_TOKEN: "t-0123456789abcdef",
    };
    expect(() => loadConfig({ env, cwd: dir })).not.toThrow();
  });

  it("refuses an unknown SESSIONSTORE_* variable, naming it and the closest setting", () => {
    const error = problemsOf({ env: { SESSIONSTORE_MAXSESSIONS: "5", SESSIONSTORE_LOG_LEVL: "debug", SESSIONSTORE_ZZZ: "1", SESSIONSTORE_EMPTY: "" }, cwd: dir });
    expect(error.problems).toEqual([
      "unknown environment variable SESSIONSTORE_LOG_LEVL (did you mean SESSIONSTORE_LOG_LEVEL?)",
      "unknown environment variable SESSIONSTORE_MAXSESSIONS (did you mean SESSIONSTORE_MAX_SESSIONS?)",
      "unknown environment variable SESSIONSTORE_ZZZ",
    ]);
  });

  it.each(["localhost:0", "[::1]:50051", "[::]:1", "unix:/run/s.sock", "unix:///tmp/s.sock", "0.0.0.0:65535"])("accepts listen %j", (listen) => {
    expect(loadConfig({ argv: { listen }, env: {}, cwd: dir }).listen).toBe(listen);
  });

  it.each(["127.0.0.1:0", "0.0.0.0:9464", "[::]:9464"])("accepts metrics-listen %j, from a flag or the environment", (metricsListen) => {
    expect(loadConfig({ argv: { metricsListen }, env: {}, cwd: dir }).metricsListen).toBe(metricsListen);
    expect(loadConfig({ env: { SESSIONSTORE_METRICS_LISTEN: metricsListen }, cwd: dir }).metricsListen).toBe(metricsListen);
  });
});

describe("validation", () => {
  // One bad value per field; each must be reported under the field's flag name and its source.
  const bad: [flag: string, option: string, value: string, says: string][] = [
    ["listen", "listen", "50051", "must be host:port, [ipv6]:port or unix:/path"],
    ["metrics-listen", "metricsListen", "9464", "must be host:port or [ipv6]:port (or empty for off)"],
    ["metrics-listen", "metricsListen", "unix:/run/metrics.sock", "must be host:port or [ipv6]:port (or empty for off)"],
    ["storage", "storage", "postgres", "must be sqlite, memory or redis"],
    ["redis-url", "redisUrl", "http://cache:6379", "must start with redis:// or rediss:// (TLS)"],
    ["redis-key-prefix", "redisKeyPrefix", "app{1}:", "without spaces or braces"],
    ["redis-connect-timeout", "redisConnectTimeout", "0s", "must be longer than 0s"],
    ["redis-sentinels", "redisSentinels", "10.0.0.1", "must be host:port pairs separated by commas"],
    ["redis-sentinels", "redisSentinels", "a:1,b:99999", "must be host:port pairs separated by commas"],
    ["redis-min-replicas", "redisMinReplicas", "-1", "must be a non-negative integer"],
    ["redis-min-replicas-timeout", "redisMinReplicasTimeout", "0s", "must be longer than 0s"],
    ["max-sessions", "maxSessions", "abc", 'must be a positive integer, got "abc"'],
    ["max-session-age", "maxSessionAge", "0s", "must be longer than 0s"],
    ["max-resume-age", "maxResumeAge", "soon", "must be a duration"],
    ["max-resume-attempts", "maxResumeAttempts", "-1", "must be a non-negative integer"],
    ["cleanup-interval", "cleanupInterval", "300", "write a unit: 300s"],
    ["cleanup-batch-size", "cleanupBatchSize", "0", "must be a positive integer"],
    ["audio-buffer-max-bytes", "audioBufferMaxBytes", "1.5", "must be a positive integer"],
    ["max-message-bytes", "maxMessageBytes", "4294967296", "no larger than 2147483647"],
    ["shutdown-grace", "shutdownGrace", "30d", "must be at most 576h"],
    ["log-level", "logLevel", "loud", "must be one of fatal, error, warn, info, debug, trace, silent"],
    ["auth-tokens", "authTokens", "secret-token", "entry 1 is not token=tenant[:role]"],
    ["max-sessions-per-tenant", "maxSessionsPerTenant", "-1", "must be a non-negative integer"],
  ];

  it.each(bad)("reports a bad %s from the environment and from a flag", (flag, option, value, says) => {
    const env = `SESSIONSTORE_${flag.replace(/-/g, "_").toUpperCase()}`;
    const fromEnv = problemsOf({ env: { [env]: value }, cwd: dir }).message;
    expect(fromEnv).toContain(`${flag} (from ${env}) `);
    expect(fromEnv).toContain(says);
    const fromFlag = problemsOf({ argv: { [option]: value }, env: {}, cwd: dir }).message;
    expect(fromFlag).toContain(`${flag} (from --${flag}) `);
    expect(fromFlag).toContain(says);
  });

  // An empty variable means "not set", so an empty path can only come from a flag or a file.
  it("reports an empty sqlite-path", () => {
    expect(problemsOf({ argv: { sqlitePath: "" }, env: {}, cwd: dir }).message).toContain(
      'sqlite-path (from --sqlite-path) must be a non-empty string, got ""',
    );
  });

  it("names the config file as the source of its values", () => {
    const yaml = file("bad.yaml", "maxSessions: -3\ncleanupInterval: 300\nlisten: 50051\n");
    const error = problemsOf({ argv: { config: yaml }, env: {}, cwd: dir });
    expect(error.problems).toEqual([
      `listen (from config file ${yaml}) must be a non-empty string, got 50051`,
      `max-sessions (from config file ${yaml}) must be a positive integer, got -3`,
      `cleanup-interval (from config file ${yaml}) must be a duration such as 300s or 1h30m: "300" has no unit (write a unit: 300s)`,
    ]);
  });

  it("collects every problem into one error and formats it as documented", () => {
    const error = problemsOf({ argv: { listen: "x" }, env: { SESSIONSTORE_MAX_SESSIONS: "abc", SESSIONSTORE_LOG_LEVEL: "loud" }, cwd: dir });
    expect(error.problems).toHaveLength(3);
    expect(error.message).toMatch(/^invalid configuration: listen \(from --listen\)/);
    expect(error.message).toContain('max-sessions (from SESSIONSTORE_MAX_SESSIONS) must be a positive integer, got "abc"');
  });

  it("validates only the value that wins", () => {
    const config = loadConfig({ argv: { maxSessions: "5" }, env: { SESSIONSTORE_MAX_SESSIONS: "abc" }, cwd: dir });
    expect(config.maxSessions).toBe(5);
  });

  it("takes redis storage with its URL, key prefix and connect timeout", () => {
    const config = loadConfig({
      argv: { redisUrl: "rediss://app:s3cret@redis.internal:6380/2" },
      env: { SESSIONSTORE_STORAGE: "redis", SESSIONSTORE_REDIS_KEY_PREFIX: "staging:", SESSIONSTORE_REDIS_CONNECT_TIMEOUT: "1500ms" },
      cwd: dir,
    });
    expect(config).toMatchObject({
      storage: "redis",
      redisUrl: "rediss://app:s3cret@redis.internal:6380/2",
      redisKeyPrefix: "staging:",
      redisConnectTimeoutMs: 1500,
    });
  });

  it("takes Sentinels, their name and password, and the replica acknowledgement", () => {
    const config = loadConfig({
      argv: { redisSentinels: "10.0.0.1:26379, [fd00::2]:26380,sentinel-3:26381", redisMinReplicas: "1" },
      env: { SESSIONSTORE_REDIS_SENTINEL_NAME: "sessions", SESSIONSTORE_REDIS_SENTINEL_PASSWORD: "s3cret", SESSIONSTORE_REDIS_MIN_REPLICAS_TIMEOUT: "250ms" },
      cwd: dir,
    });
    expect(config).toMatchObject({
      redisSentinels: [{ host: "10.0.0.1", port: 26379 }, { host: "fd00::2", port: 26380 }, { host: "sentinel-3", port: 26381 }],
      redisSentinelName: "sessions",
      redisSentinelPassword: "s3cret",
      redisMinReplicas: 1,
      redisMinReplicasTimeoutMs: 250,
    });
    const file = join(dir, "sentinels.json");
    writeFileSync(file, JSON.stringify({ redisSentinels: ["127.0.0.1:26379", "127.0.0.1:26380"] }));
    expect(loadConfig({ argv: { config: file }, env: {}, cwd: dir }).redisSentinels).toEqual([{ host: "127.0.0.1", port: 26379 }, { host: "127.0.0.1", port: 26380 }]);
    const both = problemsOf({ argv: { redisSentinels: "a:1", redisClusterNodes: "b:2", redisMinReplicas: "1" }, env: {}, cwd: dir });
    expect(both.problems).toEqual([
      "--redis-cluster-nodes (from --redis-cluster-nodes) and --redis-sentinels (from --redis-sentinels) exclude each other: a Cluster fails over by itself",
      "--redis-min-replicas (from --redis-min-replicas) is not supported with --redis-cluster-nodes (from --redis-cluster-nodes): it needs one primary (standalone or behind Sentinels)",
    ]);
    expect(problemsOf({ argv: { redisClusterNodes: "b:2", redisUrl: "redis://:pw@x/3" }, env: {}, cwd: dir }).problems).toEqual([
      "--redis-url (from --redis-url) names a database, which a Redis Cluster does not have (only 0): drop the /<db> with --redis-cluster-nodes (from --redis-cluster-nodes)",
    ]);
    expect(loadConfig({ argv: { redisClusterNodes: "10.0.1.1:6379,10.0.1.2:6379", redisUrl: "rediss://:pw@x" }, env: {}, cwd: dir }).redisClusterNodes).toEqual([
      { host: "10.0.1.1", port: 6379 },
      { host: "10.0.1.2", port: 6379 },
    ]);
    const tooLong = problemsOf({ argv: { redisMinReplicas: "1", redisMinReplicasTimeout: "5s" }, env: {}, cwd: dir });
    expect(tooLong.problems).toEqual([
      "--redis-min-replicas-timeout (from --redis-min-replicas-timeout) must be shorter than --redis-connect-timeout (from default), which bounds every Redis command, the wait for replicas included",
    ]);
  });

  it("takes the durability settings from a flag given alone, the environment or a file, and refuses other values", () => {
    expect(loadConfig({ argv: { redisRequireDurable: true }, env: { SESSIONSTORE_SQLITE_SYNCHRONOUS: "FULL" }, cwd: dir })).toMatchObject({
      redisRequireDurable: true,
      sqliteSynchronous: "full",
    });
    expect(loadConfig({ env: { SESSIONSTORE_REDIS_REQUIRE_DURABLE: "no" }, cwd: dir }).redisRequireDurable).toBe(false);
    const yaml = file("durable.yaml", "redisRequireDurable: true\nsqlite-synchronous: normal\n");
    expect(loadConfig({ argv: { config: yaml }, env: {}, cwd: dir })).toMatchObject({ redisRequireDurable: true, sqliteSynchronous: "normal" });
    const message = problemsOf({ argv: { sqliteSynchronous: "extra" }, env: { SESSIONSTORE_REDIS_REQUIRE_DURABLE: "maybe" }, cwd: dir }).message;
    expect(message).toContain('sqlite-synchronous (from --sqlite-synchronous) must be normal or full, got "extra"');
    expect(message).toContain('redis-require-durable (from SESSIONSTORE_REDIS_REQUIRE_DURABLE) must be true or false, got "maybe"');
  });

  it("never repeats a Redis URL, which may hold a password, in its errors", () => {
    const message = problemsOf({ argv: { redisUrl: "redis://:s3cret@cache:6379/db" }, env: {}, cwd: dir }).message;
    expect(message).toContain("redis-url (from --redis-url) may end only in a database number");
    expect(message).not.toContain("s3cret");
  });

  it("refuses unknown keys in the config file by name, suggesting the likely one", () => {
    const json = file("typo.json", JSON.stringify({ maxSessionAgeMs: 1000, colour: "blue", max_sessions: 4 }));
    expect(problemsOf({ argv: { config: json }, env: {}, cwd: dir }).problems).toEqual([
      `unknown key "maxSessionAgeMs" in config file ${json} (did you mean "maxSessionAge"?)`,
      `unknown key "colour" in config file ${json}`,
      `unknown key "max_sessions" in config file ${json} (did you mean "maxSessions"?)`,
    ]);
  });

  it("refuses a setting given twice in one file under both spellings", () => {
    const json = file("twice.json", JSON.stringify({ maxSessions: 1, "max-sessions": 2 }));
    expect(problemsOf({ argv: { config: json }, env: {}, cwd: dir }).message).toContain(
      'max-sessions is given twice in config file',
    );
  });

  it("reports a config file it cannot use, with where its path came from", () => {
    const missing = join(dir, "missing.yaml");
    expect(problemsOf({ argv: { config: missing }, env: {}, cwd: dir }).message).toContain(`config file ${missing} (from --config) cannot be read: ENOENT`);
    expect(problemsOf({ env: { SESSIONSTORE_CONFIG: "x.toml" }, cwd: dir }).message).toContain("(from SESSIONSTORE_CONFIG) must end in .json, .yaml or .yml");
    const broken = file("broken.json", "{ not json");
    expect(problemsOf({ argv: { config: broken }, env: {}, cwd: dir }).message).toContain(`config file ${broken} (from --config) cannot be read`);
    const list = file("list.yaml", "- 1\n- 2\n");
    expect(problemsOf({ argv: { config: list }, env: {}, cwd: dir }).message).toContain(`config file ${list} must hold an object of settings`);
  });

  it("keeps reporting environment and flag problems alongside a broken file", () => {
    const error = problemsOf({ argv: { config: join(dir, "nope.json") }, env: { SESSIONSTORE_MAX_SESSIONS: "x" }, cwd: dir });
    expect(error.problems).toHaveLength(2);
  });

  it("never repeats an auth token in an error", () => {
    const tokens = "s3cr3t-one-0123456789=acme,s3cr3t-two-0123456789=not a tenant,s3cr3t-one-0123456789=globex";
    const message = problemsOf({ env: { SESSIONSTORE_AUTH_TOKENS: tokens }, cwd: dir }).message;
    expect(message).toContain("auth-tokens (from SESSIONSTORE_AUTH_TOKENS) entry 2 is not token=tenant[:role]");
    expect(message).not.toContain("s3cr3t");
    const repeated = problemsOf({ env: { SESSIONSTORE_AUTH_TOKENS: "s3cr3t-0123456789ab=a,s3cr3t-0123456789ab=b" }, cwd: dir }).message;
    expect(repeated).toContain("entry 2 repeats the token of entry 1");
    expect(repeated).not.toContain("s3cr3t");
  });

  // Each of these written backwards, or a word for a token, would have put the secret in a log line as a tenant.
  it.each([
    ["a backwards pair whose secret is no tenant name", "alpha=s3cr3t/with+slash", "entry 1 is not token=tenant[:role]"],
    ["a backwards pair whose secret could be a tenant name", "alpha=s3cr3tPlain", "entry 1 has a token shorter than 16 characters"],
    ["a long tenant name first", "tenant-alpha-production=s3cr3tPlain0123456", "entry 1 has a token shorter than 16 characters or made only of letters"],
    ["a mixed-case generated secret second", "customer42-production=Xk3v9Qp2Lm8Rt5Wz7Y", "entry 1 names a tenant that looks like a generated token"],
    ["a role that is none", "0123456789abcdef0123=alpha:root", "entry 1 is not token=tenant[:role]"],
  ])("refuses %s without showing either side", (_name, pairs, says) => {
    const message = problemsOf({ argv: { authTokens: pairs }, env: {}, cwd: dir }).message;
    expect(message).toContain(`auth-tokens (from --auth-tokens) ${says}`);
    for (const side of pairs.split(/[=:]/)) expect(message).not.toContain(side);
  });
});

describe("TLS settings", () => {
  it("takes a TLS listener with its files from flags, env or a file, paths resolved against the working directory", () => {
    const config = loadConfig({
      argv: { tlsListen: "0.0.0.0:50052", tlsCert: "certs/tls.crt" },
      env: { SESSIONSTORE_TLS_KEY: "certs/tls.key" },
      cwd: dir,
    });
    expect(config).toMatchObject({ tlsListen: "0.0.0.0:50052", tlsCert: join(dir, "certs/tls.crt"), tlsKey: join(dir, "certs/tls.key"), tlsClientCa: "" });
    const fromFile = loadConfig({ argv: { config: file("c.yaml", "tlsListen: 0.0.0.0:50052\ntls-cert: /c\ntls-key: /k\ntlsClientCa: /ca\ntlsReloadInterval: 1s\n") }, env: {}, cwd: dir });
    expect(fromFile).toMatchObject({ tlsCert: "/c", tlsKey: "/k", tlsClientCa: "/ca", tlsReloadIntervalMs: 1000 });
  });

  it("refuses a TLS listener without its certificate and key, and files no listener would use", () => {
    const listenerAlone = problemsOf({ argv: { tlsListen: "0.0.0.0:50052" }, env: {}, cwd: dir });
    expect(listenerAlone.problems).toEqual([
      "--tls-listen (from --tls-listen) needs --tls-cert too",
      "--tls-listen (from --tls-listen) needs --tls-key too",
    ]);
    const filesAlone = problemsOf({ argv: { tlsCert: "/c" }, env: { SESSIONSTORE_TLS_CLIENT_CA: "/ca" }, cwd: dir });
    expect(filesAlone.problems).toEqual([
      "--tls-cert (from --tls-cert) is set but --tls-listen is not: no listener would use it",
      "--tls-client-ca (from SESSIONSTORE_TLS_CLIENT_CA) is set but --tls-listen is not: no listener would use it",
    ]);
    const same = problemsOf({ argv: { listen: "0.0.0.0:50051", tlsListen: "0.0.0.0:50051", tlsCert: "/c", tlsKey: "/k" }, env: {}, cwd: dir });
    expect(same.problems).toEqual(["--tls-listen (from --tls-listen) must differ from --listen: one address cannot serve both plaintext and TLS"]);
    expect(problemsOf({ argv: { tlsListen: "nowhere" }, env: {}, cwd: dir }).message).toContain("tls-listen (from --tls-listen) must be host:port");
  });
});

describe("cliOptions", () => {
  it("offers --config and a flag per setting, each help naming its default and env var", () => {
    const options = cliOptions();
    expect(options[0]?.flags).toBe("--config <file>");
    expect(options).toHaveLength(43);
    for (const option of options.slice(1)) {
      const flag = /^--([a-z0-9-]+) [<[]/.exec(option.flags)?.[1] ?? "";
      expect(flag).not.toBe("");
      expect(option.description).toContain(`env SESSIONSTORE_${flag.replace(/-/g, "_").toUpperCase()}`);
      expect(option.description).toMatch(/\(default: [^;]+; env /);
    }
    expect(options.find((o) => o.flags.startsWith("--cleanup-interval"))?.description).toContain("default: 300s");
  });
});
