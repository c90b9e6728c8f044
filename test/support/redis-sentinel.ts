import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { freePort, type RedisServer, startRedisServer } from "./redis-server.js";
import { toolPath } from "./tools.js";

/**
 * A replicated Redis watched by Sentinels, all real processes on loopback:
 * a primary, two replicas of it, and three Sentinels (quorum 2) that promote
 * a replica about a second after the primary stops answering. Each data node
 * fsyncs every write (as startRedisServer does); the Sentinels rewrite their
 * own config files in a temp dir, as they must.
 */
export interface SentinelSet {
  /** The name the Sentinels monitor the primary under. */
  name: string;
  /** The data nodes, the first of them the primary at start. */
  servers: RedisServer[];
  /** 127.0.0.1:<port> of each Sentinel. */
  sentinels: string[];
  /** The sidecar's flags for this set: --storage redis, --redis-sentinels, --redis-sentinel-name (and the passwords when set). */
  sidecarArgs: string[];
  /** The data node the Sentinels name as primary now. */
  primary(): Promise<RedisServer>;
  /** Kills the current primary with SIGKILL, as a crashed host would be; returns it. */
  killPrimary(): Promise<RedisServer>;
  /**
   * Stops the `index`th Sentinel of sidecarArgs (SIGSTOP), as a host that
   * hangs would: connections to it open, and nothing it is asked is answered,
   * until resumeSentinels (or stop).
   */
  pauseSentinel(index: number): void;
  resumeSentinels(): void;
  /** Resolves once the Sentinels name a primary other than `old` and it has `replicas` replicas in sync. */
  failedOver(old: RedisServer, replicas: number): Promise<RedisServer>;
  stop(): Promise<void>;
}

export interface SentinelSetOptions {
  /** requirepass (and masterauth) of the data nodes. */
  password?: string;
  /** requirepass of the Sentinels. */
  sentinelPassword?: string;
}

const NAME = "sessions";
/** How long the primary may be silent before a Sentinel thinks it down. */
const DOWN_AFTER_MS = 1000;

export async function startSentinelSet(options: SentinelSetOptions = {}): Promise<SentinelSet> {
  const auth = options.password !== undefined ? ["--masterauth", options.password] : [];
  const servers: RedisServer[] = [];
  const sentinels: Sentinel[] = [];
  const stop = async () => {
    // A stopped process takes its SIGTERM only once continued.
    sentinels.forEach((s) => s.signal("SIGCONT"));
    await Promise.all(sentinels.map((s) => s.stop()));
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    servers.push(await startRedisServer({ password: options.password, extraArgs: auth }));
    for (let i = 0; i < 2; i++) {
      servers.push(await startRedisServer({ password: options.password, extraArgs: [...auth, "--replicaof", "127.0.0.1", String(servers[0]!.port)] }));
    }
    for (let i = 0; i < 3; i++) sentinels.push(await startSentinel(servers[0]!.port, options));
    const set: SentinelSet = {
      name: NAME,
      servers,
      sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`),
      sidecarArgs: [
        "--storage", "redis",
        "--redis-sentinels", sentinels.map((s) => `127.0.0.1:${s.port}`).join(","),
        "--redis-sentinel-name", NAME,
        ...(options.password !== undefined ? ["--redis-url", `redis://:${options.password}@localhost`] : []),
        ...(options.sentinelPassword !== undefined ? ["--redis-sentinel-password", options.sentinelPassword] : []),
      ],
      async primary() {
        const port = await askPrimaryPort(sentinels, options.sentinelPassword);
        const server = servers.find((s) => s.port === port);
        if (!server) throw new Error(`the Sentinels name 127.0.0.1:${port} as primary, which is none of ours`);
        return server;
      },
      async killPrimary() {
        const primary = await set.primary();
        await primary.kill();
        return primary;
      },
      pauseSentinel(index) {
        sentinels[index]!.signal("SIGSTOP");
      },
      resumeSentinels() {
        sentinels.forEach((s) => s.signal("SIGCONT"));
      },
      async failedOver(old, replicas) {
        for (;;) {
          const port = await askPrimaryPort(sentinels, options.sentinelPassword).catch(() => old.port);
          if (port !== old.port) {
            const server = servers.find((s) => s.port === port)!;
            if (await inSyncReplicas(server, options.password) >= replicas) return server;
          }
          await sleep(50);
        }
      },
      stop,
    };
    await settled(set, sentinels, options);
    return set;
  } catch (err) {
    await stop();
    throw err;
  }
}

interface Sentinel {
  port: number;
  signal(signal: "SIGSTOP" | "SIGCONT"): void;
  stop(): Promise<void>;
}

async function startSentinel(primaryPort: number, options: SentinelSetOptions): Promise<Sentinel> {
  const dir = mkdtempSync(join(tmpdir(), "sessionstore-sentinel-"));
  const port = await freePort();
  const file = join(dir, "sentinel.conf");
  writeFileSync(file, [
    `port ${port}`,
    "bind 127.0.0.1",
    `dir ${dir}`,
    `sentinel monitor ${NAME} 127.0.0.1 ${primaryPort} 2`,
    `sentinel down-after-milliseconds ${NAME} ${DOWN_AFTER_MS}`,
    `sentinel failover-timeout ${NAME} 10000`,
    `sentinel parallel-syncs ${NAME} 2`,
    ...(options.password !== undefined ? [`sentinel auth-pass ${NAME} ${options.password}`] : []),
    ...(options.sentinelPassword !== undefined ? [`requirepass ${options.sentinelPassword}`] : []),
    "",
  ].join("\n"));
  // The Debian redis-server binary is also the Sentinel (redis-sentinel is a link to it).
  const proc: ChildProcess = spawn(toolPath("redis-server"), [file, "--sentinel", "--logfile", "", "--daemonize", "no"], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`redis sentinel exited (${code}) before it was ready:\n${output}`));
    proc.once("exit", onExit);
    proc.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      output += `${line}\n`;
      if (line.includes("+monitor master")) {
        proc.off("exit", onExit);
        resolve();
      }
    });
  });
  return {
    port,
    signal(signal) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
        proc.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until the replicas are in sync and every Sentinel knows both replicas and both other Sentinels: only then can they fail over. */
async function settled(set: SentinelSet, sentinels: Sentinel[], options: SentinelSetOptions): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await inSyncReplicas(set.servers[0]!, options.password)) < 2) {
    if (Date.now() > deadline) throw new Error("the replicas did not sync with the primary within 30 s");
    await sleep(50);
  }
  for (const sentinel of sentinels) {
    const client = sentinelClient(sentinel.port, options.sentinelPassword);
    try {
      for (;;) {
        const replicas = (await client.call("SENTINEL", "REPLICAS", NAME)) as unknown[];
        const others = (await client.call("SENTINEL", "SENTINELS", NAME)) as unknown[];
        if (replicas.length === 2 && others.length === 2) break;
        if (Date.now() > deadline) throw new Error(`Sentinel ${sentinel.port} knows ${replicas.length} replicas and ${others.length} other Sentinels after 30 s`);
        await sleep(100);
      }
    } finally {
      client.disconnect();
    }
  }
}

async function askPrimaryPort(sentinels: Sentinel[], password: string | undefined): Promise<number> {
  let failure: unknown;
  for (const sentinel of sentinels) {
    const client = sentinelClient(sentinel.port, password);
    try {
      const [, port] = (await client.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", NAME)) as [string, string];
      return Number(port);
    } catch (err) {
      failure = err;
    } finally {
      client.disconnect();
    }
  }
  throw failure;
}

/** Replicas of `server` whose link is up and whose offset has caught up with the primary's. */
async function inSyncReplicas(server: RedisServer, password: string | undefined): Promise<number> {
  const client = new Redis({ host: "127.0.0.1", port: server.port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const info = await client.info("replication");
    if (!/^role:master/m.test(info)) return 0;
    return [...info.matchAll(/^slave\d+:.*state=online.*$/gm)].length;
  } catch {
    return 0;
  } finally {
    client.disconnect();
  }
}

function sentinelClient(port: number, password: string | undefined): Redis {
  const client = new Redis({ host: "127.0.0.1", port, password, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on("error", () => undefined);
  return client;
}
