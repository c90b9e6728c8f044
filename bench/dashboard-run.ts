/**
 * The run behind docs/monitoring-dashboard.png: a sidecar on SQLite with
 * --metrics-listen, a real Prometheus scraping it every second, and, for
 * RUN_S seconds, CALLS live calls of the call simulator's traffic
 * (support/call-load.ts) beside a churn of dropped calls: resumes that
 * succeed, resumes of ended calls that are refused, and a bridge that lost
 * its call writing with its old epoch (fenced). Then
 * scripts/render-dashboard.py plots what Prometheus scraped, panel by panel
 * of deploy/monitoring/sessionstore-dashboard.json, into OUT.
 *
 * Run: npm run dashboard:picture (builds first). Env: CALLS (150), RUN_S (60),
 * OUT (docs/monitoring-dashboard.png).
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SessionStoreClient } from "../src/client/index.js";
import { startPrometheus } from "../test/support/prometheus-server.js";
import { startSidecar } from "../test/support/sidecar-process.js";
import { runCallLoad } from "./support/call-load.js";

const CALLS = Number(process.env.CALLS ?? 150);
const RUN_MS = Number(process.env.RUN_S ?? 60) * 1000;
const OUT = process.env.OUT ?? fileURLToPath(new URL("../docs/monitoring-dashboard.png", import.meta.url));
const RULES = fileURLToPath(new URL("../deploy/monitoring/sessionstore-alerts.yml", import.meta.url));
const DASHBOARD = fileURLToPath(new URL("../deploy/monitoring/sessionstore-dashboard.json", import.meta.url));
const RENDER = fileURLToPath(new URL("../scripts/render-dashboard.py", import.meta.url));
/** The version the committed picture was drawn with. */
const MATPLOTLIB = "3.11.2";
const VENV = fileURLToPath(new URL("../scripts/python-venv.sh", import.meta.url));

/** Dropped calls coming back, some too late, and their old bridges still writing, until `until`. */
async function churn(client: SessionStoreClient, until: number): Promise<void> {
  for (let i = 0; Date.now() < until; i++) {
    const id = `churn-${i}`;
    const created = (await client.createSession({ ownerId: "bridge-a", session: { conversationId: id, bridgeType: "audiocodes" } })).session!;
    const resumed = (await client.resumeSession({ conversationId: id, ownerId: "bridge-b" })).session!;
    // The old bridge did not hear it lost the call.
    await client.updateSession({ update: { conversationId: id, ownerEpoch: created.ownerEpoch, seq: 1n, appendHistory: [{ itemId: "late" }] } }).catch(() => undefined);
    await client.updateSession({ update: { conversationId: id, ownerEpoch: resumed.ownerEpoch, seq: 1n, appendHistory: [{ itemId: "h1" }] } });
    if (i % 3 === 0) {
      await client.endSession({ conversationId: id, ownerEpoch: resumed.ownerEpoch });
      // A bridge asking for a call that has already hung up.
      await client.resumeSession({ conversationId: id, ownerId: "bridge-c" }).catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 100 + 100 * Math.sin(i / 20) ** 2));
  }
}

async function main(): Promise<void> {
  const sidecar = await startSidecar({ args: ["--log-level", "info", "--metrics-listen", "127.0.0.1:0", "--max-sessions", String(100_000)] });
  const prometheus = await startPrometheus({ jobs: { sessionstore: [new URL(sidecar.metricsUrl!).host] }, ruleFiles: [RULES] });
  const client = new SessionStoreClient(sidecar.address, { retry: false });
  try {
    const sessions = new Map<string, { ownerEpoch: bigint; lastSeq: bigint }>();
    for (let i = 0; i < CALLS; i++) {
      const { session } = await client.resumeSession({ conversationId: `call-${i}`, ownerId: "bench", createIfMissing: true, session: { bridgeType: "audiocodes" } });
      sessions.set(`call-${i}`, { ownerEpoch: session!.ownerEpoch, lastSeq: session!.lastSeq });
    }
    const start = Date.now();
    const [load] = await Promise.all([
      runCallLoad({ address: sidecar.address, sessions, callsPerStream: 50, durationMs: RUN_MS, warmupMs: 2000, drainTimeoutMs: 30_000 }),
      churn(client, start + RUN_MS),
    ]);
    // Two more scrapes, so the last seconds are in Prometheus too.
    await new Promise((r) => setTimeout(r, 2500));
    console.error(`${CALLS} calls, ${Math.round(load.ackedPerSecond)} acks/s, ack p99 ${load.p99Ms.toFixed(1)} ms, failed ${load.failed}`);
    const python = execFileSync(VENV, { encoding: "utf8" }).trim();
    // Only the picture needs matplotlib, so the venv the tests use gets it here, once.
    try {
      execFileSync(python, ["-c", "import matplotlib"], { stdio: "ignore" });
    } catch {
      execFileSync(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", `matplotlib==${MATPLOTLIB}`], { stdio: "inherit" });
    }
    execFileSync(python, [RENDER, "--prometheus", prometheus.url, "--dashboard", DASHBOARD, "--start", String(start / 1000), "--end", String(Date.now() / 1000), "--out", OUT], {
      stdio: "inherit",
    });
    console.error(`wrote ${OUT}`);
  } finally {
    client.close();
    await prometheus.stop();
    await sidecar.stop();
  }
}

await main();
