/**
 * Time from starting `sessionstore serve` to its "listening" line (health
 * SERVING) on a database of SIZE_GB gigabytes: calls of a full audio ring
 * (960,000 bytes) each, until the file is that large. Three starts, median.
 *
 * Run: npm run bench:startup (builds first). Env: SIZE_GB (default 1),
 * STARTS (3). Prints a Markdown table.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { startSidecar } from "../test/support/sidecar-process.js";
import { machineFacts, median } from "./support/measure.js";
import { preload } from "./support/preload.js";

const SIZE_GB = Number(process.env.SIZE_GB ?? 1);
const STARTS = Number(process.env.STARTS ?? 3);
/** A full ring of 100 ms chunks is about 0.96 MB of audio, a little more on disk. */
const SESSION_BYTES = 1_000_000;

const dir = mkdtempSync(join(tmpdir(), "sessionstore-startup-"));
const path = join(dir, "sessionstore.db");
try {
  const sessions = Math.ceil((SIZE_GB * 1024 ** 3) / SESSION_BYTES);
  const filled = performance.now();
  preload({ path, sessions, prefix: "full", historyItems: 100, audioChunks: 300 });
  const bytes = statSync(path).size;
  const timings: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const start = performance.now();
    const sidecar = await startSidecar({ dbPath: path, args: ["--log-level", "info", "--max-sessions", String(2 * sessions)] });
    timings.push(performance.now() - start);
    await sidecar.stop("SIGTERM");
  }
  console.log(`Command: \`SIZE_GB=${SIZE_GB} STARTS=${STARTS} npm run bench:startup\`\n\n${machineFacts()}\n`);
  console.log(`Database: ${(bytes / 1024 ** 3).toFixed(2)} GiB, ${sessions} sessions (filled in ${((performance.now() - filled) / 1000).toFixed(0)} s)\n`);
  const rows = timings.map((t, i) => `| ${i + 1} | ${t.toFixed(0)} |`);
  console.log(["| start | ms to listening |", "|---|---:|", ...rows, `| median | ${median(timings).toFixed(0)} |`].join("\n"));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
