/**
 * ResumeSession's rate with 64 calls in flight against the empty call's
 * (grpc.health.v1.Health/Check) on the same sidecar, in alternating rounds,
 * with the sidecar's CPU per call: the whole process and its main thread
 * apart (what is left is the SQLite writer thread's and libuv's), and this
 * process's, the client's, which shares the cores. A round is
 * CALLS empty calls, then CALLS resumes of sessions never resumed before.
 * The first round after start pays for a cold page cache and is printed but
 * left out of the medians. bench:unary has the same rate once per stored
 * count; this one repeats it, to compare builds by their medians.
 *
 * Run: npm run bench:resume-rate (builds first). Env: STORED (sessions
 * stored besides those resumed; default 1000), ROUNDS (default 5), CALLS
 * (per kind per round; default 5000), PROFILE_DIR (writes the sidecar's CPU
 * profiles there: node --cpu-prof, one per thread).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SessionStoreClient } from "../src/client/index.js";
import { startSidecar } from "../test/support/sidecar-process.js";
import { healthChecks } from "./support/health-check.js";
import { cpuMs, inFlightSeconds, machineFacts, median } from "./support/measure.js";
import { preload } from "./support/preload.js";

const STORED = Number(process.env.STORED ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const CALLS = Number(process.env.CALLS ?? 5000);
const IN_FLIGHT = 64;

interface Round {
  rate: number;
  /** µs per call, the whole sidecar process, its main thread, and this process (the client). */
  cpuUs: number;
  mainUs: number;
  clientUs: number;
}

const dir = mkdtempSync(join(tmpdir(), "sessionstore-resume-rate-"));
const path = join(dir, "sessionstore.db");
preload({ path, sessions: STORED, prefix: "stored" });
preload({ path, sessions: CALLS * ROUNDS, prefix: "resume" });
const nodeArgs = process.env.PROFILE_DIR ? ["--cpu-prof", "--cpu-prof-dir", process.env.PROFILE_DIR] : [];
// info, the default: a resume logs its line, as in production.
const sidecar = await startSidecar({ dbPath: path, nodeArgs, args: ["--log-level", "info", "--max-sessions", String(STORED + CALLS * ROUNDS + 100)] });
const client = new SessionStoreClient(sidecar.address, { retry: false });
const health = healthChecks(sidecar.address);

/** CALLS calls with IN_FLIGHT in flight; `call` gets 0 … CALLS-1. */
async function round(call: (i: number) => Promise<unknown>): Promise<Round> {
  const [cpu0, main0, client0] = [cpuMs(sidecar.pid), cpuMs(sidecar.pid, sidecar.pid), process.cpuUsage()];
  const seconds = await inFlightSeconds(IN_FLIGHT, CALLS, call);
  const perCall = (ms: number) => (ms * 1000) / CALLS;
  const client = process.cpuUsage(client0);
  return {
    rate: CALLS / seconds,
    cpuUs: perCall(cpuMs(sidecar.pid) - cpu0),
    mainUs: perCall(cpuMs(sidecar.pid, sidecar.pid) - main0),
    clientUs: perCall((client.user + client.system) / 1000),
  };
}

const cell = (r: Round) => `${r.rate.toFixed(0)} · ${r.cpuUs.toFixed(0)} · ${r.mainUs.toFixed(0)} · ${r.clientUs.toFixed(0)}`;
try {
  console.log(`Command: \`STORED=${STORED} ROUNDS=${ROUNDS} CALLS=${CALLS} npm run bench:resume-rate\`\n\n${machineFacts()}\n`);
  await round(health.check); // warm-up
  console.log("| round | empty calls/s · sidecar CPU µs/call · its main thread · client | resumes/s · sidecar CPU µs/call · its main thread · client | resume ÷ empty |\n|---|---|---|---:|");
  const kept: { empty: Round; resume: Round; ratio: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const empty = await round(health.check);
    const resume = await round((i) => client.resumeSession({ conversationId: `resume-${r * CALLS + i}`, ownerId: "bench", view: 1 }));
    const ratio = resume.rate / empty.rate;
    console.log(`| ${r === 0 ? "0 (cold, left out)" : r} | ${cell(empty)} | ${cell(resume)} | ${ratio.toFixed(3)} |`);
    if (r > 0) kept.push({ empty, resume, ratio });
  }
  const med = (pick: (k: (typeof kept)[number]) => number) => median(kept.map(pick));
  const medianCell = (of: (k: (typeof kept)[number]) => Round) =>
    cell({ rate: med((k) => of(k).rate), cpuUs: med((k) => of(k).cpuUs), mainUs: med((k) => of(k).mainUs), clientUs: med((k) => of(k).clientUs) });
  console.log(
    `| median | ${medianCell((k) => k.empty)} | ${medianCell((k) => k.resume)} | ${med((k) => k.ratio).toFixed(3)} |`,
  );
} finally {
  client.close();
  health.close();
  await sidecar.stop();
  rmSync(dir, { recursive: true, force: true });
}
