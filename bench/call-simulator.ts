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
 * 2. the real load, to fresh sessions.
 *
 * Each real figure is also given as a ratio to the ceiling's. Stepping stops
 * after the first N whose p99 is over the limit (set ALL_STEPS=1 to go on).
 *
 * Run: npm run bench:calls (builds first). Env: STEPS (default
 * 25,50,100,250,500,1000,1500,2000), DURATION_S (20), WARMUP_S (3),
 * CALLS_PER_STREAM (250), DB_DIR (where the temp database goes; default the
 * OS temp dir — /dev/shm takes the disk out of the picture). Prints Markdown
 * for docs/BENCHMARKS.md.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { SessionStoreClient } from "../src/client/index.js";
import { startSidecar } from "../test/support/sidecar-process.js";
import { type CallLoadResult, runCallLoad } from "./support/call-load.js";
import { cpuMs, databaseBytes, machineFacts, mib, sampleRss } from "./support/measure.js";

const STEPS = (process.env.STEPS ?? "25,50,100,250,500,1000,1500,2000").split(",").map(Number);
const DURATION_MS = Number(process.env.DURATION_S ?? 20) * 1000;
const WARMUP_MS = Number(process.env.WARMUP_S ?? 3) * 1000;
const CALLS_PER_STREAM = Number(process.env.CALLS_PER_STREAM ?? 250);
const DB_DIR = process.env.DB_DIR ?? tmpdir();
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
  real: Phase;
  dbBytes: number;
}

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

async function runStep(calls: number): Promise<Step> {
  const dbPath = join(mkdtempSync(join(DB_DIR, "sessionstore-bench-")), "sessionstore.db");
  const sidecar = await startSidecar({ dbPath, args: ["--log-level", "info", "--max-sessions", String(2 * calls + 10)] });
  const client = new SessionStoreClient(sidecar.address);
  const loadOptions = { address: sidecar.address, callsPerStream: CALLS_PER_STREAM, durationMs: DURATION_MS, warmupMs: WARMUP_MS, drainTimeoutMs: 30_000 };
  try {
    const dupIds = Array.from({ length: calls }, (_, i) => `dup-${i}`);
    const dupSessions = new Map<string, { ownerEpoch: bigint; lastSeq: bigint }>();
    await eachLimited(dupIds, 64, async (id) => {
      const { session } = await client.resumeSession({ conversationId: id, ownerId: "bench", createIfMissing: true });
      await client.updateSession({ update: { conversationId: id, ownerEpoch: session!.ownerEpoch, seq: FAR_AHEAD } });
      dupSessions.set(id, { ownerEpoch: session!.ownerEpoch, lastSeq: 0n });
    });
    const ceiling = await phase(sidecar.pid, () => runCallLoad({ ...loadOptions, sessions: dupSessions }));

    const callIds = Array.from({ length: calls }, (_, i) => `call-${i}`);
    const callSessions = new Map<string, { ownerEpoch: bigint; lastSeq: bigint }>();
    await eachLimited(callIds, 64, async (id) => {
      const { session } = await client.resumeSession({ conversationId: id, ownerId: "bench", createIfMissing: true, session: { bridgeType: "audiocodes" } });
      callSessions.set(id, { ownerEpoch: session!.ownerEpoch, lastSeq: session!.lastSeq });
    });
    const real = await phase(sidecar.pid, () => runCallLoad({ ...loadOptions, sessions: callSessions }));
    return { calls, ceiling, real, dbBytes: databaseBytes(sidecar.dbPath) };
  } finally {
    client.close();
    await sidecar.stop("SIGTERM");
    rmSync(dirname(sidecar.dbPath), { recursive: true, force: true });
  }
}

const ms = (v: number) => v.toFixed(1);
const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : "–");
const pct = (v: number) => `${Math.round(v * 100)} %`;

function report(steps: Step[]): string {
  const lines = [
    `| calls | streams | offered upd/s | acked upd/s (× ceiling) | ack p50 ms (× ceiling) | ack p99 ms (× ceiling) | sidecar RSS MiB (× ceiling) | sidecar CPU | bench CPU | DB + WAL MiB | failed |`,
    `|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
  ];
  for (const { calls, ceiling: c, real: r, dbBytes } of steps) {
    lines.push(
      `| ${calls} | ${r.load.streams} | ${Math.round(r.load.offeredPerSecond)} | ${Math.round(r.load.ackedPerSecond)} (${ratio(r.load.ackedPerSecond, c.load.ackedPerSecond)}) | ${ms(r.load.p50Ms)} (${ratio(r.load.p50Ms, c.load.p50Ms)}) | ${ms(r.load.p99Ms)} (${ratio(r.load.p99Ms, c.load.p99Ms)}) | ${mib(r.rss)} (${ratio(r.rss, c.rss)}) | ${pct(r.serverCpu)} | ${pct(r.load.clientCpu)} | ${mib(dbBytes)} | ${r.load.failed} |`,
    );
  }
  lines.push("", "Ceiling (every update a duplicate: acknowledged, not written):", "");
  lines.push(`| calls | acked upd/s | ack p50 ms | ack p99 ms | sidecar RSS MiB | sidecar CPU | bench CPU |`, `|---:|---:|---:|---:|---:|---:|---:|`);
  for (const { calls, ceiling: c } of steps) {
    lines.push(`| ${calls} | ${Math.round(c.load.ackedPerSecond)} | ${ms(c.load.p50Ms)} | ${ms(c.load.p99Ms)} | ${mib(c.rss)} | ${pct(c.serverCpu)} | ${pct(c.load.clientCpu)} |`);
  }
  const passing = steps.filter((s) => s.real.load.p99Ms < P99_LIMIT_MS && s.real.load.failed === 0);
  lines.push("", `Largest N with ack p99 under ${P99_LIMIT_MS} ms: **${passing.at(-1)?.calls ?? "none of those tried"}**`);
  return lines.join("\n");
}

async function main(): Promise<void> {
  const command = `STEPS=${STEPS.join(",")} DURATION_S=${DURATION_MS / 1000} WARMUP_S=${WARMUP_MS / 1000} CALLS_PER_STREAM=${CALLS_PER_STREAM} DB_DIR=${DB_DIR} npm run bench:calls`;
  console.log(`Command: \`${command}\`\n\n${machineFacts()}\n`);
  const steps: Step[] = [];
  for (const calls of STEPS) {
    const step = await runStep(calls);
    steps.push(step);
    const r = step.real.load;
    console.error(`N=${calls}: ${Math.round(r.ackedPerSecond)} acks/s, p50 ${ms(r.p50Ms)} ms, p99 ${ms(r.p99Ms)} ms, failed ${r.failed}`);
    if (r.p99Ms >= P99_LIMIT_MS && !process.env.ALL_STEPS) break;
  }
  console.log(report(steps));
}

await main();
