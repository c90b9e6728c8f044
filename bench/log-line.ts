/**
 * What one log line costs the sidecar, its write left out: the line a resume
 * logs at info, through createLogger (src/runtime/logger.ts, which censors
 * sensitive keys itself), against the same pino configured with redact paths
 * for the same keys at the top level and one level down (`text`, `*.text`,
 * …: what the sidecar used before), and against pino with no safety net at
 * all. ROUNDS lines per round, the three ways alternating, three rounds;
 * prints µs per line, medians, and each as a ratio to createLogger's.
 *
 * Run: npm run bench:log-line. Env: ROUNDS (default 100000).
 */
import { pino } from "pino";
import { createLogger, SENSITIVE_KEYS } from "../src/runtime/logger.js";
import { machineFacts, median } from "./support/measure.js";

const ROUNDS = Number(process.env.ROUNDS ?? 100_000);

let written = 0;
const discard = { write: (line: string) => void (written += line.length) };
const pinoOptions = { level: "info", timestamp: pino.stdTimeFunctions.isoTime };
const ways: Record<string, pino.Logger> = {
  createLogger: createLogger("info", discard).child({ module: "server" }),
  "pino redact paths": pino({ ...pinoOptions, redact: { paths: [...SENSITIVE_KEYS].flatMap((key) => [key, `*.${key}`]), censor: "[redacted]" } }, discard).child({ module: "server" }),
  "pino, no safety net": pino(pinoOptions, discard).child({ module: "server" }),
};

/** µs per line over ROUNDS resume lines. */
function run(log: pino.Logger): number {
  const before = written;
  const began = performance.now();
  for (let i = 0; i < ROUNDS; i++) {
    log.info(
      { method: "ResumeSession", tenant: "default", conversation_id: `call-${i}`, owner_epoch: "2", fenced_epoch: "1", resumed_count: 1, latency_ms: 1.234 },
      "session resumed; the previous owner is fenced",
    );
  }
  if (written === before) throw new Error("nothing written");
  return ((performance.now() - began) * 1000) / ROUNDS;
}

console.log(`Command: \`ROUNDS=${ROUNDS} npm run bench:log-line\`\n\n${machineFacts()}\n`);
for (const log of Object.values(ways)) run(log); // warm-up
const samples = new Map<string, number[]>(Object.keys(ways).map((way) => [way, []]));
for (let round = 0; round < 3; round++) for (const [way, log] of Object.entries(ways)) samples.get(way)!.push(run(log));
const base = median(samples.get("createLogger")!);
console.log("| logger | µs per line (runs) | ÷ createLogger |\n|---|---:|---:|");
for (const [way, runs] of samples) console.log(`| ${way} | ${median(runs).toFixed(2)} (${runs.map((r) => r.toFixed(2)).join(" / ")}) | ${(median(runs) / base).toFixed(2)} |`);
