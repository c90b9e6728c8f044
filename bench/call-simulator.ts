/**
 * Call simulator: how many concurrent calls one sidecar serves with an ack
 * p99 under 50 ms. For each N, the traffic of N calls (support/call-load.ts)
 * for a fixed time, in phases, one after the other:
 *
 * 1. transport: the same writes, batched the same way, to a bare grpc-js
 *    server that decodes nothing and answers each message at once
 *    (support/transport-ceiling.ts) — what gRPC itself costs, the ceiling
 *    every other figure is given as a ratio to;
 * 2. no-write (NO_WRITE=1 only): the sidecar on SQLite with every update a
 *    duplicate — decoded, checked, planned and acknowledged, never written;
 * 3. sqlite: the real load on a fresh SQLite sidecar;
 * 4. redis: the real load on a sidecar with --storage redis against a
 *    redis-server of its own (loopback, free port, appendonly yes with
 *    appendfsync always: an ack means the write is in Redis's fsynced AOF);
 * 5. redis-sentinel (STORAGE=sentinel): the same through Sentinels, on a
 *    primary with two replicas (support/redis-backends.ts), and
 *    redis-sentinel-ack: that with --redis-min-replicas 1, an ack then
 *    also meaning a replica has the write; redis-cluster (STORAGE=cluster):
 *    the same on a 3-primary Redis Cluster. Their figures are given as ratios
 *    to the standalone redis phase of the same step too.
 *
 * Stepping stops after the first N where every backend's p99 is over the
 * limit (set ALL_STEPS=1 to go on).
 *
 * Run: npm run bench:calls (builds first). Env: STEPS (default
 * 250,500,1000,2000), DURATION_S (10), WARMUP_S (2), CALLS_PER_STREAM (250),
 * FRAME_MS (100; 20 for 20 ms audio frames, 50 appends a second per call),
 * DB_DIR (where the temp database goes; default the OS temp dir), STORAGE
 * (sqlite,redis,sentinel,cluster; any of them alone to skip the others), SQLITE_SYNCHRONOUS (normal
 * or full: the SQLite sidecar's --sqlite-synchronous), NO_WRITE, PROFILE_DIR (when
 * set, every sidecar runs with node --cpu-prof and writes its profile there
 * on exit), SIDECAR_NODE_ARGS (more node flags for every sidecar, space-separated,
 * e.g. "--max-semi-space-size=32"), SIDECAR_CPUS (e.g. "1": pins the sidecars, the ceiling and
 * redis-server to those CPUs with taskset, and this process to the others —
 * a smaller machine whose capacity the load generator can exceed, for the
 * overload steps), METRICS (1: the SQLite and Redis sidecars serve
 * --metrics-listen and are scraped once a second during each phase, as a
 * Prometheus would, to price metrics against a run without), LOAD (node, the
 * default, or go: the same traffic from the Go load generator,
 * support/go-call-load.ts, which offers several times more from one core than
 * this process can — for the overload steps; it needs go on the PATH). Prints
 * Markdown for docs/BENCHMARKS.md.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SessionStoreClient } from "../src/client/index.js";
import { type RedisBackend, startBackend } from "./support/redis-backends.js";
import { startSidecar } from "../test/support/sidecar-process.js";
import { type CallLoadOptions, type CallLoadResult, runCallLoad as runNodeCallLoad } from "./support/call-load.js";
import { runGoCallLoad } from "./support/go-call-load.js";
import { cpuMs, databaseBytes, machineFacts, mib, sampleRss, writtenBytes } from "./support/measure.js";

const STEPS = (process.env.STEPS ?? "250,500,1000,2000").split(",").map(Number);
const DURATION_MS = Number(process.env.DURATION_S ?? 10) * 1000;
const WARMUP_MS = Number(process.env.WARMUP_S ?? 2) * 1000;
const CALLS_PER_STREAM = Number(process.env.CALLS_PER_STREAM ?? 250);
const FRAME_MS = Number(process.env.FRAME_MS ?? 100) as 20 | 100;
const DB_DIR = process.env.DB_DIR ?? tmpdir();
const STORAGE = (process.env.STORAGE ?? "sqlite,redis").split(",");
const NO_WRITE = process.env.NO_WRITE === "1";
const SQLITE_SYNCHRONOUS = process.env.SQLITE_SYNCHRONOUS;
const NODE_ARGS = [
  ...(process.env.PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.PROFILE_DIR}`] : []),
  ...(process.env.SIDECAR_NODE_ARGS ?? "").split(" ").filter((flag) => flag !== ""),
];
const SIDECAR_CPUS = process.env.SIDECAR_CPUS;
const METRICS = process.env.METRICS === "1";
const LOAD = process.env.LOAD ?? "node";
if (LOAD !== "node" && LOAD !== "go") throw new Error(`LOAD=${LOAD}: node or go`);
const runCallLoad = LOAD === "go" ? runGoCallLoad : runNodeCallLoad;
/** Prometheus's scrape interval in the measured runs with METRICS=1 (the README's example config uses 15 s; 1 s is the harder case). */
const SCRAPE_MS = 1000;
const P99_LIMIT_MS = 50;
/** Far beyond any seq the load sends, so that every update of the no-write phase is a duplicate. */
const FAR_AHEAD = 1n << 40n;

interface Phase {
  load: CallLoadResult;
  /** Peak RSS of the process serving the phase. */
  rss: number;
  /** Its CPU as a share of one core. */
  serverCpu: number;
  /** Anything else measured alongside (database size, redis-server's figures). */
  extra: string;
}

type PhaseName = "transport" | "no-write" | "sqlite" | RedisBackend;
type Step = { calls: number } & Partial<Record<PhaseName, Phase>>;
type Sessions = Map<string, { ownerEpoch: bigint; lastSeq: bigint }>;

const loadOptions: Omit<CallLoadOptions, "address" | "sessions"> = {
  callsPerStream: CALLS_PER_STREAM,
  durationMs: DURATION_MS,
  warmupMs: WARMUP_MS,
  drainTimeoutMs: 30_000,
  frameMs: FRAME_MS,
};

/** Runs `fn` over items with at most `limit` in flight: setup goes faster than one call at a time. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** What a phase measures beside the load: its extra column, given the phase's load and length. */
type Extra = (load: CallLoadResult, elapsedMs: number) => string;

async function measured(pid: number, run: () => Promise<CallLoadResult>, extra: Extra = () => "", metricsUrl?: string): Promise<Phase> {
  const rss = sampleRss(pid);
  const cpuBefore = cpuMs(pid);
  const started = Date.now();
  const scraper = metricsUrl === undefined ? undefined : scrapeEverySecond(metricsUrl);
  try {
    const load = await run();
    const elapsedMs = Date.now() - started;
    return { load, rss: rss.stop(), serverCpu: (cpuMs(pid) - cpuBefore) / elapsedMs, extra: extra(load, elapsedMs) };
  } finally {
    const scrapes = await scraper?.stop();
    if (scrapes !== undefined) console.error(`scraped ${metricsUrl} ${scrapes} times`);
  }
}

/** Fetches /metrics every SCRAPE_MS, as Prometheus does, until stopped; stop resolves with the number of good scrapes. */
function scrapeEverySecond(url: string): { stop(): Promise<number> } {
  let scrapes = 0;
  let failure: unknown;
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = fetch(url)
      .then(async (res) => {
        if (!res.ok) throw new Error(`scrape of ${url} answered ${res.status}`);
        await res.text();
        scrapes += 1;
      })
      .catch((err: unknown) => void (failure ??= err));
  }, SCRAPE_MS);
  return {
    async stop() {
      clearInterval(timer);
      await running;
      if (failure !== undefined) throw failure;
      return scrapes;
    },
  };
}

/** N sessions to write to, created through `client`; `lastSeq` far ahead makes every write a duplicate. */
async function sessionsFor(client: SessionStoreClient, prefix: string, calls: number, duplicates = false): Promise<Sessions> {
  const sessions: Sessions = new Map();
  await eachLimited(Array.from({ length: calls }, (_, i) => `${prefix}-${i}`), 64, async (id) => {
    const { session } = await client.resumeSession({ conversationId: id, ownerId: "bench", createIfMissing: true, session: { bridgeType: "audiocodes" } });
    if (duplicates) await client.updateSession({ update: { conversationId: id, ownerEpoch: session!.ownerEpoch, seq: FAR_AHEAD } });
    sessions.set(id, { ownerEpoch: session!.ownerEpoch, lastSeq: duplicates ? 0n : session!.lastSeq });
  });
  return sessions;
}

async function transportPhase(calls: number): Promise<Phase> {
  const script = fileURLToPath(new URL("./support/transport-ceiling.ts", import.meta.url));
  const argv = [process.execPath, "--import", "tsx", script];
  const server: ChildProcess = SIDECAR_CPUS === undefined
    ? spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] })
    : spawn("taskset", ["-c", SIDECAR_CPUS, ...argv], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      server.stdout!.on("data", (data: Buffer) => {
        const match = /listening (\d+)/.exec(data.toString());
        if (match) resolve(Number(match[1]));
      });
      server.on("exit", (code) => reject(new Error(`the transport ceiling exited with ${code}`)));
    });
    // The ceiling keeps no sessions: any ids do.
    const sessions: Sessions = new Map(Array.from({ length: calls }, (_, i) => [`t-${i}`, { ownerEpoch: 1n, lastSeq: 0n }]));
    return await measured(server.pid!, () => runCallLoad({ ...loadOptions, address: `127.0.0.1:${port}`, sessions, sink: "raw" }));
  } finally {
    server.kill("SIGTERM");
  }
}

async function sqlitePhases(step: Step): Promise<void> {
  const dbPath = join(mkdtempSync(join(DB_DIR, "sessionstore-bench-")), "sessionstore.db");
  const synchronous = SQLITE_SYNCHRONOUS === undefined ? [] : ["--sqlite-synchronous", SQLITE_SYNCHRONOUS];
  const sidecar = await startSidecar({ dbPath, args: [...sidecarArgs(step.calls), ...synchronous], nodeArgs: NODE_ARGS, cpus: SIDECAR_CPUS });
  const client = new SessionStoreClient(sidecar.address);
  try {
    if (NO_WRITE) {
      const duplicates = await sessionsFor(client, "dup", step.calls, true);
      step["no-write"] = await measured(sidecar.pid, () => runCallLoad({ ...loadOptions, address: sidecar.address, sessions: duplicates }));
    }
    if (STORAGE.includes("sqlite")) {
      const sessions = await sessionsFor(client, "call", step.calls);
      // Bytes written per acknowledged update, counted as CPU per update is (warm-up included): the WAL's frames and the checkpoints' copies of them.
      const writtenBefore = writtenBytes(sidecar.pid);
      const extra: Extra = (load, elapsedMs) => {
        const perUpdate = (writtenBytes(sidecar.pid) - writtenBefore) / (elapsedMs / 1000) / Math.max(1, load.ackedPerSecond);
        return `${mib(databaseBytes(sidecar.dbPath))} MiB · ${(perUpdate / 1024).toFixed(1)} KiB`;
      };
      step.sqlite = await measured(sidecar.pid, () => runCallLoad({ ...loadOptions, address: sidecar.address, sessions }), extra, sidecar.metricsUrl);
    }
  } finally {
    client.close();
    await sidecar.stop("SIGTERM");
    rmSync(dirname(sidecar.dbPath), { recursive: true, force: true });
  }
}

async function redisPhase(step: Step, backend: RedisBackend): Promise<void> {
  const redis = await startBackend(backend);
  if (SIDECAR_CPUS !== undefined) for (const pid of redis.allPids) execFileSync("taskset", ["-a", "-p", "-c", SIDECAR_CPUS, String(pid)]);
  const sidecar = await startSidecar({ args: [...sidecarArgs(step.calls), ...redis.sidecarArgs], nodeArgs: NODE_ARGS, cpus: SIDECAR_CPUS });
  const client = new SessionStoreClient(sidecar.address);
  try {
    const sessions = await sessionsFor(client, "call", step.calls);
    const redisPid = redis.serverPid;
    const redisRss = sampleRss(redisPid);
    const redisCpu = cpuMs(redisPid);
    const started = Date.now();
    step[backend] = await measured(sidecar.pid, () => runCallLoad({ ...loadOptions, address: sidecar.address, sessions }), () =>
      `${mib(redisRss.stop())} MiB / ${pct((cpuMs(redisPid) - redisCpu) / (Date.now() - started))}`,
    sidecar.metricsUrl);
  } finally {
    client.close();
    await sidecar.stop("SIGTERM");
    rmSync(dirname(sidecar.dbPath), { recursive: true, force: true });
    await redis.stop();
  }
}

function sidecarArgs(calls: number): string[] {
  return ["--log-level", "info", "--max-sessions", String(2 * calls + 10), ...(METRICS ? ["--metrics-listen", "127.0.0.1:0"] : [])];
}

const ms = (v: number) => v.toFixed(1);
/** The failed writes, and by why when there are any: "37 (CLOSED 30, OVERLOADED 7)". */
const failedCell = ({ failed, failedBy }: { failed: number; failedBy: Map<string, number> }) =>
  failed === 0 ? "0" : `${failed} (${[...failedBy].map(([why, n]) => `${why} ${n}`).join(", ")})`;
const ratio = (a: number, b: number | undefined) => (b !== undefined && b > 0 ? (a / b).toFixed(2) : "–");
const pct = (v: number) => `${Math.round(v * 100)} %`;

/** Sidecar CPU per acknowledged update, in µs. */
const cpuPerUpdate = (p: Phase) => (p.serverCpu * 1e6) / Math.max(1, p.load.ackedPerSecond);

const extraHead: Record<PhaseName, string> = {
  transport: "–", "no-write": "–", sqlite: "DB + WAL · written per update", redis: "redis-server RSS / CPU", "redis-sentinel": "primary RSS / CPU", "redis-sentinel-ack": "primary RSS / CPU",
  "redis-cluster": "first primary RSS / CPU",
};

function table(steps: Step[], name: PhaseName): string[] {
  const lines = [
    `| calls | streams | offered upd/s | acked upd/s (× transport) | ack p50 ms (× transport) | ack p99 ms (× transport) | server CPU | CPU µs per update (× transport) | RSS MiB | bench CPU | ${extraHead[name]} | shed | received per committed | failed |`,
    `|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
  ];
  for (const step of steps) {
    const r = step[name];
    const t = step.transport;
    if (!r) continue;
    lines.push(
      `| ${step.calls} | ${r.load.streams} | ${Math.round(r.load.offeredPerSecond)} | ${Math.round(r.load.ackedPerSecond)} (${ratio(r.load.ackedPerSecond, t?.load.ackedPerSecond)}) | ${ms(r.load.p50Ms)} (${ratio(r.load.p50Ms, t?.load.p50Ms)}) | ${ms(r.load.p99Ms)} (${ratio(r.load.p99Ms, t?.load.p99Ms)}) | ${pct(r.serverCpu)} | ${cpuPerUpdate(r).toFixed(1)} (${ratio(cpuPerUpdate(r), t && cpuPerUpdate(t))}) | ${mib(r.rss)} | ${pct(r.load.clientCpu)} | ${r.extra || "–"} | ${r.load.shed} | ${r.load.receivedPerCommitted.toFixed(2)} | ${failedCell(r.load)} |`,
    );
  }
  return lines;
}

const passes = (p: Phase | undefined) => p !== undefined && p.load.p99Ms < P99_LIMIT_MS && p.load.failed === 0 && p.load.ackedPerSecond >= 0.99 * p.load.offeredPerSecond;

/** A Redis deployment's figures as ratios to standalone Redis at the same step. */
function versusStandalone(steps: Step[], name: RedisBackend): string[] {
  const lines = [`| calls | acked upd/s × redis | ack p50 × redis | ack p99 × redis | CPU µs per update × redis |`, `|---:|---:|---:|---:|---:|`];
  for (const step of steps) {
    const r = step[name];
    const base = step.redis;
    if (!r || !base) continue;
    lines.push(`| ${step.calls} | ${ratio(r.load.ackedPerSecond, base.load.ackedPerSecond)} | ${ratio(r.load.p50Ms, base.load.p50Ms)} | ${ratio(r.load.p99Ms, base.load.p99Ms)} | ${ratio(cpuPerUpdate(r), cpuPerUpdate(base))} |`);
  }
  return lines;
}

function report(steps: Step[]): string {
  const names: PhaseName[] = ["transport", "no-write", "sqlite", "redis", "redis-sentinel", "redis-sentinel-ack", "redis-cluster"];
  const lines: string[] = [];
  for (const name of names) {
    if (!steps.some((s) => s[name])) continue;
    lines.push(`${name}:`, "", ...table(steps, name), "");
    if (name.startsWith("redis-") && steps.some((s) => s.redis)) lines.push(`${name} against standalone redis:`, "", ...versusStandalone(steps, name as RedisBackend), "");
  }
  const largest = (name: PhaseName) => String(steps.filter((s) => passes(s[name])).at(-1)?.calls ?? "none of those tried");
  lines.push(
    `Largest N with ack p99 under ${P99_LIMIT_MS} ms, acked ≥ 0.99 × offered and none failed: ` +
      names.filter((n) => steps.some((s) => s[n])).map((n) => `${n} **${largest(n)}**`).join(", "),
  );
  return lines.join("\n");
}

/** The CPUs other than SIDECAR_CPUS, for this process. */
function otherCpus(pinned: string): string {
  const taken = new Set(pinned.split(",").map(Number));
  const count = Number(execFileSync("nproc", ["--all"], { encoding: "utf8" }).trim());
  return Array.from({ length: count }, (_, i) => i).filter((i) => !taken.has(i)).join(",");
}

async function main(): Promise<void> {
  if (SIDECAR_CPUS !== undefined) execFileSync("taskset", ["-a", "-p", "-c", otherCpus(SIDECAR_CPUS), String(process.pid)]);
  const env = `STEPS=${STEPS.join(",")} DURATION_S=${DURATION_MS / 1000} WARMUP_S=${WARMUP_MS / 1000} CALLS_PER_STREAM=${CALLS_PER_STREAM} FRAME_MS=${FRAME_MS} STORAGE=${STORAGE.join(",")}${SQLITE_SYNCHRONOUS === undefined ? "" : ` SQLITE_SYNCHRONOUS=${SQLITE_SYNCHRONOUS}`}${NO_WRITE ? " NO_WRITE=1" : ""}${SIDECAR_CPUS === undefined ? "" : ` SIDECAR_CPUS=${SIDECAR_CPUS}`}${METRICS ? " METRICS=1" : ""}${LOAD === "go" ? " LOAD=go" : ""}`;
  console.log(`Command: \`${env} npm run bench:calls\`\n\n${machineFacts()}\n`);
  const steps: Step[] = [];
  for (const calls of STEPS) {
    const step: Step = { calls, transport: await transportPhase(calls) };
    if (NO_WRITE || STORAGE.includes("sqlite")) await sqlitePhases(step);
    if (STORAGE.includes("redis")) await redisPhase(step, "redis");
    if (STORAGE.includes("sentinel")) {
      await redisPhase(step, "redis-sentinel");
      await redisPhase(step, "redis-sentinel-ack");
    }
    if (STORAGE.includes("cluster")) await redisPhase(step, "redis-cluster");
    steps.push(step);
    for (const name of ["transport", "no-write", "sqlite", "redis", "redis-sentinel", "redis-sentinel-ack", "redis-cluster"] as const) {
      const p = step[name];
      if (p) console.error(`N=${calls} ${name}: ${Math.round(p.load.ackedPerSecond)} acks/s, p50 ${ms(p.load.p50Ms)} ms, p99 ${ms(p.load.p99Ms)} ms, CPU ${pct(p.serverCpu)}, shed ${p.load.shed}, received per committed ${p.load.receivedPerCommitted.toFixed(2)}, failed ${failedCell(p.load)}`);
    }
    if (![step.sqlite, step.redis, step["redis-sentinel"], step["redis-sentinel-ack"], step["redis-cluster"]].some(passes) && !process.env.ALL_STEPS) break;
  }
  console.log(report(steps));
}

await main();
