/**
 * What --sqlite-synchronous full costs per commit: the SQLite writer
 * (SqliteWriter, on this thread, with the pragmas the sidecar opens its file
 * with) commits one update per transaction — an audio append of 3,200 bytes,
 * a call's 100 ms frame — UPDATES times, NORMAL and FULL alternating, three
 * rounds. One update per commit is the worst case: the sidecar's group
 * commit pays FULL's fsync once per group, however many updates it holds.
 *
 * Run: npm run bench:commit-cost (builds first). Env: UPDATES (default 2000),
 * DB_DIR (where the temp databases go; default the OS temp dir: put it on
 * the disk you mean to run on).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { create } from "@bufbuild/protobuf";
import { SessionSchema, SessionUpdateSchema } from "../src/gen/sessionstore/v1/session_store_pb.js";
import { defaultRules } from "../src/session/rules.js";
import { holdWriterLock, openDatabase, type Synchronous } from "../src/store/sqlite/open-database.js";
import { SessionTables } from "../src/store/sqlite/session-tables.js";
import { SqliteWriter } from "../src/store/sqlite/sqlite-writer.js";
import { machineFacts, median } from "./support/measure.js";

const UPDATES = Number(process.env.UPDATES ?? 2000);
const DB_DIR = process.env.DB_DIR ?? tmpdir();
const MODES: Synchronous[] = ["normal", "full"];

/** Microseconds per single-update commit. */
function run(synchronous: Synchronous): number {
  const dir = mkdtempSync(join(DB_DIR, "sessionstore-commit-cost-"));
  const path = join(dir, "sessionstore.db");
  const lock = holdWriterLock(path);
  const db = openDatabase(path, synchronous);
  try {
    const writer = new SqliteWriter(db, new SessionTables(db), defaultRules);
    const now = new Date();
    writer.create("default", create(SessionSchema, { conversationId: "call" }), "bench", now, 1);
    const frame = new Uint8Array(3_200).fill(0x11);
    const start = performance.now();
    for (let seq = 1n; seq <= BigInt(UPDATES); seq++) {
      const update = create(SessionUpdateSchema, { conversationId: "call", seq, appendAudio: [{ data: frame }] });
      writer.updateMany([{ tenant: "default", update }], now, 0);
    }
    return ((performance.now() - start) * 1000) / UPDATES;
  } finally {
    db.close();
    lock.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = new Map<Synchronous, number[]>(MODES.map((m) => [m, []]));
for (let round = 0; round < 3; round++) for (const mode of MODES) results.get(mode)!.push(run(mode));

console.log(`Command: \`UPDATES=${UPDATES} npm run bench:commit-cost\`\n\n${machineFacts()}\n`);
console.log("| synchronous | µs per single-update commit (3 rounds) | median | commits/s |");
console.log("|---|---|---:|---:|");
for (const mode of MODES) {
  const runs = results.get(mode)!;
  const mid = median(runs);
  console.log(`| ${mode} | ${runs.map((r) => r.toFixed(0)).join(", ")} | ${mid.toFixed(0)} | ${Math.round(1e6 / mid)} |`);
}
