/**
 * Failover recovery time: a sidecar behind Sentinels (a primary, two
 * replicas, three Sentinels calling a primary down after 1 s; see
 * test/support/redis-sentinel.ts) under a bridge's streaming load of 8
 * sessions; the primary is killed with SIGKILL, and the time from the kill
 * to the first update acknowledged again is measured, with and without
 * --redis-min-replicas 1, RUNS times each (default 5), each on a fresh set.
 * Also counts acknowledged updates missing afterwards (lost).
 *
 * Run: npm run build && node --import tsx bench/failover-recovery.ts. Prints
 * Markdown for docs/BENCHMARKS.md.
 */
import { loadavg } from "node:os";
import { SessionStoreClient } from "../src/client/index.js";
import { runFailoverLoad } from "../test/support/failover-load.js";
import { startSentinelSet } from "../test/support/redis-sentinel.js";
import { startSidecar } from "../test/support/sidecar-process.js";

const RUNS = Number(process.env.RUNS ?? 5);

async function once(extraArgs: string[]): Promise<{ recoveryMs: number; lost: number; acked: number }> {
  const set = await startSentinelSet();
  const sidecar = await startSidecar({ args: ["--log-level", "info", ...set.sidecarArgs, ...extraArgs] });
  const client = new SessionStoreClient(sidecar.address, { timeoutMs: 10_000 });
  try {
    const run = await runFailoverLoad({ address: sidecar.address, client, sessions: 8, failAt: 30, roundsAfter: 20, fail: () => set.killPrimary() });
    return { recoveryMs: run.recoveryMs, lost: run.lost, acked: run.ackedCount };
  } finally {
    client.close();
    await sidecar.stop();
    await set.stop();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const lines = ["| mode | recovery ms, each run | median ms | lost / acknowledged, each run | load average before each run |", "|---|---|---:|---|---|"];
for (const [mode, args] of [["--redis-min-replicas 0", []], ["--redis-min-replicas 1", ["--redis-min-replicas", "1"]]] as const) {
  const runs: { recoveryMs: number; lost: number; acked: number; load: string }[] = [];
  for (let i = 0; i < RUNS; i++) {
    const load = loadavg().map((l) => l.toFixed(2)).join(" ");
    runs.push({ ...(await once([...args])), load });
    console.error(`${mode} run ${i + 1}: ${Math.round(runs.at(-1)!.recoveryMs)} ms, lost ${runs.at(-1)!.lost} of ${runs.at(-1)!.acked} (load ${load})`);
  }
  lines.push(`| ${mode} | ${runs.map((r) => Math.round(r.recoveryMs)).join(", ")} | ${Math.round(median(runs.map((r) => r.recoveryMs)))} | ${runs.map((r) => `${r.lost}/${r.acked}`).join(", ")} | ${runs.map((r) => r.load).join("; ")} |`);
}
console.log(lines.join("\n"));
