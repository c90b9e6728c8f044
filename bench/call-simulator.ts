/**
 * Call simulator: how many concurrent calls one sidecar serves with an ack
 * p99 under 50 ms. For each N, a fresh sidecar process (SQLite on a temp
 * file) takes the traffic of N calls (see support/call-load.ts) for a fixed
 * time, twice:
 *
 * 1. the ceiling: the same messages at the same rate over the same streams,
 *    to sessions whose last_seq is already far ahead, so every update is a
 *    duplicate — decoded, checked against the session header inside the
 *    group commit, acknowledged, never written. The server has no no-op
 *    method; this is the nearest thing, and what it costs is grpc-js, the
 *    client, and the group commit's bookkeeping;
 * 2. the real load, to fresh sessions;
 * 3. with STORAGE including redis: the real load again, on a second sidecar
 *    with --storage redis against a redis-server of its own (loopback, free
 *    port, appendonly yes with appendfsync always: an ack means the write is
 *    in Redis's fsynced AOF), started for the step and stopped after it.
 *
 * Each real figure is also given as a ratio to the ceiling's of the same
 * step, so SQLite and Redis are compared under the same machine load.
 * Stepping stops after the first N where every backend's p99 is over the
 * limit (set ALL_STEPS=1 to go on).
 *
 * Run: npm run bench:calls (builds first). Env: STEPS (default
 * 25,50,100,250,500,1000,1500,2000), DURATION_S (20), WARMUP_S (3),
 * CALLS_PER_STREAM (250), DB_DIR (where the temp database goes; default the
 * OS temp dir — /dev/shm takes the disk out of the picture), STORAGE
 * (sqlite,redis; either alone to skip the other), PROFILE_DIR (when set,
 * every sidecar runs with node --cpu-prof and writes its profile there on
 * exit). Prints Markdown for docs/BENCHMARKS.md.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { SessionStoreClient } from "../src/client/index.js";
import { startRedisServer } from "../test/support/redis-server.js";
import { startSidecar } from "../test/support/sidecar-process.js";
import { type CallLoadResult, runCallLoad } from "./support/call-load.js";
import { cpuMs, databaseBytes, machineFacts, mib, sampleRss } from "./support/measure.js";

const STEPS = (process.env.STEPS ?? "25,50,100,250,500,1000,1500,2000").split(",").map(Number);
const DURATION_MS = Number(process.env.DURATION_S ?? 20) * 1000;
const WARMUP_MS = Number(process.env.WARMUP_S ?? 3) * 1000;
const CALLS_PER_STREAM = Number(process.env.CALLS_PER_STREAM ?? 250);
const DB_DIR = process.env.DB_DIR ?? tmpdir();
const STORAGE = (process.env.STORAGE ?? "sqlite,redis").split(",");
const NODE_ARGS = process.env.PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.PROFILE_DIR}`] : [];
const P99_LIMIT_MS = 50;
/** Far beyond any seq the load sends, so that every update of the ceiling run is a duplicate. */
const FAR_AHEAD = 1n << 40n;

interface Phase {
  load: CallLoadResult;
  /** Peak sidecar RSS during the phase. */
  rss: number;
  /** Sidecar CPU as a share of one core. */
  serverCpu: number;
}

interface Step {
  calls: number;
  ceiling: Phase;
  sqlite?: Phase;
  dbBytes: number;
  redis?: Phase;
  /** redis-server's peak RSS and CPU share during the Redis phase. */
  redisServer?: { rss: number; cpu: number };
}

type Sessions = Map<string, { ownerEpoch: bigint; lastSeq: bigint }>;

/** Runs `fn` over items with at most `limit` in flight: setup goes faster than one call at a time. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

async function phase(pid: number, run: () => Promise<CallLoadResult>): Promise<Phase> {
  const rss = sampleRss(pid);
  const cpuBefore = cpuMs(pid);
  const started = Date.now();
  const load = await run();
  return { load, rss: rss.stop(), serverCpu: (cpuMs(pid) - cpuBefore) / (Date.now() - started) };
}

/** Creates N fresh sessions for the real load and returns where each one's seq starts. */
async function freshSessions(client: SessionStoreClient, calls: number): Promise<Sessions> {
  const sessions: Sessions = new Map();
  await eachLimited(Array.from({ length: calls }, (_, i) => `call-${i}`), 64, async (id) => {
    const { session } = await client.resumeSession({ conversationId: id, ownerId: "bench", createIfMissing: true, session: { bridgeType: "audiocodes" } });
    sessions.set(id, { ownerEpoch: session!.ownerEpoch, lastSeq: session!.lastSeq });
  });
  return sessions;
}

async function runStep(calls: number): Promise<Step> {
  const dbPath = join(mkdtempSync(join(DB_DIR, "sessionstore-bench-")), "sessionstore.db");
  const sidecarArgs = ["--log-level", "info", "--max-sessions", String(2 * calls + 10)];
  const sidecar = await startSidecar({ dbPath, args: sidecarArgs, nodeArgs: NODE_ARGS });
  const client = new SessionStoreClient(sidecar.address);
  const loadOptions = { callsPerStream: CALLS_PER_STREAM, durationMs: DURATION_MS, warmupMs: WARMUP_MS, drainTimeoutMs: 30_000 };
  const step: Step = { calls, ceiling: undefined!, dbBytes: 0 };
  try {
    const dupIds = Array.from({ length: calls }, (_, i) => `dup-${i}`);
    const dupSessions: Sessions = new Map();
    await eachLimited(dupIds, 64, async (id) => {
      const { session } = await client.resumeSession({ conversationId: id, ownerId: "bench", createIfMissing: true });
      await client.updateSession({ update: { conversationId: id, ownerEpoch: session!.ownerEpoch, seq: FAR_AHEAD } });
      dupSessions.set(id, { ownerEpoch: session!.ownerEpoch, lastSeq: 0n });
    });
    step.ceiling = await phase(sidecar.pid, () => runCallLoad({ ...loadOptions, address: sidecar.address, sessions: dupSessions }));
    if (STORAGE.includes("sqlite")) {
      const sessions = await freshSessions(client, calls);
      step.sqlite = await phase(sidecar.pid, () => runCallLoad({ ...loadOptions, address: sidecar.address, sessions }));
      step.dbBytes = databaseBytes(sidecar.dbPath);
    }
  } finally {
    client.close();
    await sidecar.stop("SIGTERM");
    rmSync(dirname(sidecar.dbPath), { recursive: true, force: true });
  }
  if (STORAGE.includes("redis")) await runRedis(step, sidecarArgs, loadOptions);
  return step;
}

/** test/support's RedisServer does not expose its pid: find it by name and by the "host:port" redis-server puts in its process title. */
function redisServerPid(port: number): number {
  const pids = execFileSync("pgrep", ["-x", "redis-server"], { encoding: "utf8" }).trim().split("\n").map(Number);
  const pid = pids.find((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").join(" ").includes(`:${port}`));
  if (pid === undefined) throw new Error(`no redis-server process on port ${port}`);
  return pid;
}

/** The real load on a sidecar with --storage redis, against a redis-server of its own. */
async function runRedis(step: Step, sidecarArgs: string[], loadOptions: Omit<Parameters<typeof runCallLoad>[0], "address" | "sessions">): Promise<void> {
  const redis = await startRedisServer();
  const sidecar = await startSidecar({ args: [...sidecarArgs, "--storage", "redis", "--redis-url", redis.url], nodeArgs: NODE_ARGS });
  const client = new SessionStoreClient(sidecar.address);
  try {
    const sessions = await freshSessions(client, step.calls);
    const redisPid = redisServerPid(redis.port);
    const redisRss = sampleRss(redisPid);
    const redisCpu = cpuMs(redisPid);
    const started = Date.now();
    step.redis = await phase(sidecar.pid, () => runCallLoad({ ...loadOptions, address: sidecar.address, sessions }));
    step.redisServer = { rss: redisRss.stop(), cpu: (cpuMs(redisPid) - redisCpu) / (Date.now() - started) };
  } finally {
    client.close();
    await sidecar.stop("SIGTERM");
    rmSync(dirname(sidecar.dbPath), { recursive: true, force: true });
    await redis.stop();
  }
}

const ms = (v: number) => v.toFixed(1);
const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : "–");
const pct = (v: number) => `${Math.round(v * 100)} %`;

function realTable(steps: Step[], pick: (s: Step) => Phase | undefined, extra: { head: string; cell: (s: Step) => string }): string[] {
  const lines = [
    `| calls | streams | offered upd/s | acked upd/s (× ceiling) | ack p50 ms (× ceiling) | ack p99 ms (× ceiling) | sidecar RSS MiB (× ceiling) | sidecar CPU | bench CPU | ${extra.head} | failed |`,
    `|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
  ];
  for (const step of steps) {
    const r = pick(step);
    const c = step.ceiling;
    if (!r) continue;
    lines.push(
      `| ${step.calls} | ${r.load.streams} | ${Math.round(r.load.offeredPerSecond)} | ${Math.round(r.load.ackedPerSecond)} (${ratio(r.load.ackedPerSecond, c.load.ackedPerSecond)}) | ${ms(r.load.p50Ms)} (${ratio(r.load.p50Ms, c.load.p50Ms)}) | ${ms(r.load.p99Ms)} (${ratio(r.load.p99Ms, c.load.p99Ms)}) | ${mib(r.rss)} (${ratio(r.rss, c.rss)}) | ${pct(r.serverCpu)} | ${pct(r.load.clientCpu)} | ${extra.cell(step)} | ${r.load.failed} |`,
    );
  }
  return lines;
}

const passes = (p: Phase | undefined) => p !== undefined && p.load.p99Ms < P99_LIMIT_MS && p.load.failed === 0;

function largest(steps: Step[], pick: (s: Step) => Phase | undefined): string {
  return String(steps.filter((s) => passes(pick(s))).at(-1)?.calls ?? "none of those tried");
}

function report(steps: Step[]): string {
  const lines: string[] = [];
  if (STORAGE.includes("sqlite")) {
    lines.push("SQLite:", "", ...realTable(steps, (s) => s.sqlite, { head: "DB + WAL MiB", cell: (s) => mib(s.dbBytes) }), "");
  }
  if (STORAGE.includes("redis")) {
    const cell = (s: Step) => (s.redisServer ? `${mib(s.redisServer.rss)} / ${pct(s.redisServer.cpu)}` : "–");
    lines.push("Redis:", "", ...realTable(steps, (s) => s.redis, { head: "redis-server RSS MiB / CPU", cell }), "");
  }
  lines.push("Ceiling (every update a duplicate: acknowledged, not written; on the SQLite sidecar):", "");
  lines.push(`| calls | acked upd/s | ack p50 ms | ack p99 ms | sidecar RSS MiB | sidecar CPU | bench CPU |`, `|---:|---:|---:|---:|---:|---:|---:|`);
  for (const { calls, ceiling: c } of steps) {
    lines.push(`| ${calls} | ${Math.round(c.load.ackedPerSecond)} | ${ms(c.load.p50Ms)} | ${ms(c.load.p99Ms)} | ${mib(c.rss)} | ${pct(c.serverCpu)} | ${pct(c.load.clientCpu)} |`);
  }
  lines.push("", `Largest N with ack p99 under ${P99_LIMIT_MS} ms: ceiling **${largest(steps, (s) => s.ceiling)}**`);
  if (STORAGE.includes("sqlite")) lines.push(`, SQLite **${largest(steps, (s) => s.sqlite)}**`);
  if (STORAGE.includes("redis")) lines.push(`, Redis **${largest(steps, (s) => s.redis)}**`);
  return lines.join("\n").replace(/\n, /g, ", ");
}

async function main(): Promise<void> {
  const command = `STEPS=${STEPS.join(",")} DURATION_S=${DURATION_MS / 1000} WARMUP_S=${WARMUP_MS / 1000} CALLS_PER_STREAM=${CALLS_PER_STREAM} DB_DIR=${DB_DIR} STORAGE=${STORAGE.join(",")} npm run bench:calls`;
  console.log(`Command: \`${command}\`\n\n${machineFacts()}\n`);
  const steps: Step[] = [];
  for (const calls of STEPS) {
    const step = await runStep(calls);
    steps.push(step);
    for (const [name, p] of [["ceiling", step.ceiling], ["sqlite", step.sqlite], ["redis", step.redis]] as const) {
      if (p) console.error(`N=${calls} ${name}: ${Math.round(p.load.ackedPerSecond)} acks/s, p50 ${ms(p.load.p50Ms)} ms, p99 ${ms(p.load.p99Ms)} ms, failed ${p.load.failed}`);
    }
    if (!passes(step.sqlite) && !passes(step.redis) && !process.env.ALL_STEPS) break;
  }
  console.log(report(steps));
}

await main();
