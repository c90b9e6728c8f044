/**
 * Unary calls beside an empty call (grpc.health.v1.Health/Check) on the same
 * sidecar process, with STORED sessions already in the database, so the
 * figures show what the store adds to grpc-js's own per-call cost and
 * whether that grows with what is stored:
 *
 * - latency, one call in flight: GetSession BASIC, GetSession FULL of a
 *   2-hour session (7,200 history items, a full audio ring of 300 chunks),
 *   ResumeSession BASIC, ResumeSession FULL of the 2-hour session (what a
 *   bridge does on a reconnect);
 * - throughput, 64 calls in flight: CreateSession and ResumeSession against
 *   the empty call's rate.
 *
 * Run: npm run bench:unary (builds first). Env: STORED (comma-separated
 * counts of stored sessions, one sidecar each; default 1000,100000), CALLS
 * (3000 per latency figure). Prints a Markdown table per count.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { SessionStoreClient } from "../src/client/index.js";
import { startSidecar } from "../test/support/sidecar-process.js";
import { healthChecks } from "./support/health-check.js";
import { inFlightSeconds, machineFacts, quantile } from "./support/measure.js";
import { preload } from "./support/preload.js";

const STORED = (process.env.STORED ?? "1000,100000").split(",").map(Number);
const CALLS = Number(process.env.CALLS ?? 3000);
const WARMUP = 300;
const IN_FLIGHT = 64;
const RATE_CALLS = 5000;

async function latency(call: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < WARMUP; i++) await call(i);
  const samples: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const start = performance.now();
    await call(WARMUP + i);
    samples.push(performance.now() - start);
  }
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) };
}

/** Calls per second with IN_FLIGHT in flight, over RATE_CALLS calls. */
async function rate(call: (i: number) => Promise<unknown>): Promise<number> {
  return RATE_CALLS / (await inFlightSeconds(IN_FLIGHT, RATE_CALLS, call));
}

async function run(stored: number): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "sessionstore-unary-"));
  const path = join(dir, "sessionstore.db");
  preload({ path, sessions: stored, prefix: "stored" });
  preload({ path, sessions: 1, prefix: "two-hours", historyItems: 7_200, audioChunks: 300 });
  // Every resume below gets a session of its own (resumes are capped per session).
  const resumable = WARMUP + CALLS + RATE_CALLS;
  preload({ path, sessions: resumable, prefix: "resume" });
  // The 2-hour session is resumed once per call of its latency figure.
  const args = ["--log-level", "info", "--max-sessions", String(stored + resumable + RATE_CALLS + 100), "--max-resume-attempts", String(WARMUP + CALLS + 1)];
  const sidecar = await startSidecar({ dbPath: path, args });
  const client = new SessionStoreClient(sidecar.address, { retry: false });
  const health = healthChecks(sidecar.address);
  try {
    const empty = await latency(health.check);
    const rows = [
      ["Health/Check (empty call)", empty],
      ["GetSession BASIC", await latency((i) => client.getSession({ conversationId: `stored-${i % stored}`, view: 1 }))],
      ["GetSession FULL, 2-hour session", await latency(() => client.getSession({ conversationId: "two-hours-0", view: 2 }))],
      ["ResumeSession BASIC", await latency((i) => client.resumeSession({ conversationId: `resume-${i}`, ownerId: "bench", view: 1 }))],
      ["ResumeSession FULL, 2-hour session", await latency((i) => client.resumeSession({ conversationId: "two-hours-0", ownerId: `bench-${i}`, view: 2 }))],
    ] as const;
    const emptyRate = await rate(health.check);
    const createRate = await rate((i) => client.createSession({ session: { conversationId: `created-${i}` }, ownerId: "bench" }));
    const resumeRate = await rate((i) => client.resumeSession({ conversationId: `resume-${WARMUP + CALLS + i}`, ownerId: "bench", view: 1 }));
    return [
      `${stored.toLocaleString("en")} sessions stored:`,
      "",
      "| call | p50 ms | p99 ms | p50 ÷ empty | p99 ÷ empty |",
      "|---|---:|---:|---:|---:|",
      ...rows.map(([name, r]) => `| ${name} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${(r.p50 / empty.p50).toFixed(2)} | ${(r.p99 / empty.p99).toFixed(2)} |`),
      "",
      `| ${IN_FLIGHT} in flight | calls/s | ÷ empty |`,
      "|---|---:|---:|",
      `| Health/Check (empty call) | ${Math.round(emptyRate)} | 1.00 |`,
      `| CreateSession | ${Math.round(createRate)} | ${(createRate / emptyRate).toFixed(2)} |`,
      `| ResumeSession BASIC | ${Math.round(resumeRate)} | ${(resumeRate / emptyRate).toFixed(2)} |`,
      "",
    ];
  } finally {
    health.close();
    client.close();
    await sidecar.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`Command: \`STORED=${STORED.join(",")} CALLS=${CALLS} npm run bench:unary\`\n\n${machineFacts()}\n`);
for (const stored of STORED) console.log((await run(stored)).join("\n"));
