/**
 * Update cost at the end of a 2-hour call against a fresh one: it must be
 * flat, since a write never reads or rewrites the history and audio already
 * stored. The "2-hour" session holds 7,200 transcript items (one a second)
 * and a full audio ring (960,000 bytes = 300 chunks of 3,200); a fresh
 * session has next to nothing (a new one is started every 100 updates, so
 * its ring never fills and never has to drop a chunk — the long session
 * pays that on every audio append).
 *
 * The update mix is the call simulator's: an audio append each time, a field
 * update every 10th, a history item every 20th. Fresh and long updates
 * alternate one by one, so load from other processes touches both alike.
 * Measured four ways: SqliteStore.update and SqliteStore.updateMany (groups
 * of 50) in this process, then UpdateSession and a StreamUpdates write (one
 * in flight) against a sidecar process.
 *
 * Run: npm run bench:update-cost (builds first). Env: UPDATES (default 2000).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { create } from "@bufbuild/protobuf";
import { systemClock } from "../src/runtime/clock.js";
import { BridgeUpdateStream, SessionSchema, SessionStoreClient, SessionUpdateSchema, SessionView, type UpdateParts } from "../src/client/index.js";
import { defaultRules } from "../src/session/rules.js";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { startSidecar } from "../test/support/sidecar-process.js";
import { machineFacts, median, quantile } from "./support/measure.js";

const UPDATES = Number(process.env.UPDATES ?? 2000);
const HISTORY_ITEMS = 7_200;
const FRAME = new Uint8Array(3_200).fill(0x7f);
const TEXT = "a transcript sentence of about sixty characters, as spoken!";
const TENANT = "default";

/** The i-th update of the mix, without conversation id and seq. */
function mix(i: number): UpdateParts {
  const parts: UpdateParts = { appendAudio: [{ data: FRAME }] };
  if (i % 10 === 0) Object.assign(parts, { updateMask: { paths: ["current_turn"] }, session: { currentTurn: i } });
  if (i % 20 === 5) parts.appendHistory = [{ itemId: `h-${i}`, role: "assistant", type: "message", text: TEXT }];
  return parts;
}

/** The writes that fill a session's audio ring (30 s of audio), ten chunks a message. */
function ringFill(): UpdateParts[] {
  return Array.from({ length: 30 }, () => ({ appendAudio: Array.from({ length: 10 }, () => ({ data: FRAME })) }));
}

/** The writes that turn an empty session into a 2-hour one: the history, then a full ring. */
function longFill(): UpdateParts[] {
  const fill: UpdateParts[] = [];
  for (let i = 0; i < HISTORY_ITEMS; i += 100) {
    fill.push({ appendHistory: Array.from({ length: 100 }, (_, k) => ({ itemId: `old-${i + k}`, role: (i + k) % 2 ? "assistant" : "user", type: "message", text: TEXT })) });
  }
  return [...fill, ...ringFill()];
}

/** Timings (ms) of one path for each kind of session. */
interface Row {
  path: string;
  fresh: number[];
  /** 30 s into a call: a full audio ring, a short history. */
  ring: number[];
  /** 2 hours into a call: a full ring and 7,200 history items. */
  long: number[];
}

interface Plan {
  path: string;
  /** How many timed steps per kind of session. */
  steps: number;
  /** Steps per fresh session, so that each stays fresh (about 100 updates). */
  perFresh: number;
  update: (id: string, step: number) => Promise<unknown>;
  /** Creates the fresh session of the n-th block and returns its id. */
  fresh: (block: number) => Promise<string>;
  ringId: string;
  longId: string;
}

/** Times plan.update for a fresh, the 30-second and the 2-hour session in turn. */
async function alternate({ path, steps, perFresh, update, fresh, ringId, longId }: Plan): Promise<Row> {
  const row: Row = { path, fresh: [], ring: [], long: [] };
  const timed = async (samples: number[], id: string, i: number) => {
    const start = performance.now();
    await update(id, i);
    samples.push(performance.now() - start);
  };
  let freshId = "";
  for (let i = 0; i < steps; i++) {
    if (i % perFresh === 0) freshId = await fresh(i / perFresh);
    await timed(row.fresh, freshId, i);
    await timed(row.ring, ringId, i);
    await timed(row.long, longId, i);
  }
  return row;
}

async function direct(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "sessionstore-bench-"));
  const store = await SqliteStore.open({ path: join(dir, "bench.db"), rules: { ...defaultRules, maxSessions: 10_000 }, clock: systemClock });
  const seqs = new Map<string, bigint>();
  const message = (id: string, parts: UpdateParts) => {
    const seq = (seqs.get(id) ?? 0n) + 1n;
    seqs.set(id, seq);
    return create(SessionUpdateSchema, { ...parts, conversationId: id, seq });
  };
  const newSession = async (id: string) => {
    await store.create(TENANT, create(SessionSchema, { conversationId: id }), "bench");
    return id;
  };
  try {
    await newSession("ring");
    for (const parts of ringFill()) await store.update(TENANT, message("ring", parts));
    await newSession("long");
    for (const parts of longFill()) await store.update(TENANT, message("long", parts));
    const single = await alternate({
      path: "SqliteStore.update",
      steps: UPDATES,
      perFresh: 100,
      update: (id, i) => store.update(TENANT, message(id, mix(i))),
      fresh: (n) => newSession(`fresh-single-${n}`),
      ringId: "ring",
      longId: "long",
    });
    // A group of 50 updates of one session, timed per update: the group commit's
    // best case, a busy call (its header is read and written once per group).
    const grouped = await alternate({
      path: "SqliteStore.updateMany, groups of 50 (per update)",
      steps: UPDATES / 10,
      perFresh: 2,
      update: (id, i) => store.updateMany(Array.from({ length: 50 }, (_, k) => ({ tenant: TENANT, update: message(id, mix(i * 50 + k)) }))),
      fresh: (n) => newSession(`fresh-many-${n}`),
      ringId: "ring",
      longId: "long",
    });
    // A group of 50 updates, one each of 50 sessions of the same kind: the call
    // simulator's case, where a group rarely holds two updates of one call, so
    // that coalescing a session's updates within a group (update-group.ts) saves nothing.
    const spreadIds = (name: string) => Array.from({ length: 50 }, (_, k) => `${name}-${k}`);
    for (const kind of ["ring", "long"]) {
      for (const id of spreadIds(`spread-${kind}`)) {
        await newSession(id);
        for (const parts of kind === "ring" ? ringFill() : longFill()) await store.update(TENANT, message(id, parts));
      }
    }
    const spread = await alternate({
      path: "SqliteStore.updateMany, groups of 50 sessions × 1 update (per update)",
      steps: UPDATES / 10,
      perFresh: 100,
      update: (name, i) => store.updateMany(spreadIds(name).map((id) => ({ tenant: TENANT, update: message(id, mix(i)) }))),
      fresh: async (n) => {
        for (const id of spreadIds(`spread-fresh-${n}`)) await newSession(id);
        return `spread-fresh-${n}`;
      },
      ringId: "spread-ring",
      longId: "spread-long",
    });
    for (const row of [grouped, spread]) for (const samples of [row.fresh, row.ring, row.long]) samples.forEach((t, i) => (samples[i] = t / 50));
    return [single, grouped, spread];
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function overGrpc(): Promise<Row[]> {
  const sidecar = await startSidecar({ args: ["--log-level", "info", "--max-sessions", "10000"] });
  const client = new SessionStoreClient(sidecar.address);
  const stream = new BridgeUpdateStream(client);
  const seqs = new Map<string, bigint>();
  const nextSeq = (id: string) => {
    const seq = (seqs.get(id) ?? 0n) + 1n;
    seqs.set(id, seq);
    return seq;
  };
  const newSession = async (id: string, track = false) => {
    const { session } = await client.resumeSession({ conversationId: id, ownerId: "bench", createIfMissing: true, view: SessionView.BASIC });
    if (track) stream.track(session!);
    return id;
  };
  try {
    const fills: [string, UpdateParts[]][] = [["ring", ringFill()], ["long", longFill()]];
    for (const [kind, fill] of fills) {
      for (const id of [`${kind}-unary`, `${kind}-stream`]) {
        await newSession(id);
        for (const parts of fill) await client.updateSession({ update: { ...parts, conversationId: id, seq: nextSeq(id) } });
      }
      stream.track((await client.getSession({ conversationId: `${kind}-stream`, view: SessionView.BASIC })).session!);
    }
    const unary = await alternate({
      path: "gRPC UpdateSession",
      steps: UPDATES,
      perFresh: 100,
      update: (id, i) => client.updateSession({ update: { ...mix(i), conversationId: id, seq: nextSeq(id) } }),
      fresh: (n) => newSession(`fresh-unary-${n}`),
      ringId: "ring-unary",
      longId: "long-unary",
    });
    const streamed = await alternate({
      path: "gRPC StreamUpdates, one write in flight",
      steps: UPDATES,
      perFresh: 100,
      update: (id, i) => stream.write(id, mix(i)),
      fresh: (n) => newSession(`fresh-stream-${n}`, true),
      ringId: "ring-stream",
      longId: "long-stream",
    });
    return [unary, streamed];
  } finally {
    await stream.close();
    client.close();
    await sidecar.stop("SIGTERM");
    rmSync(dirname(sidecar.dbPath), { recursive: true, force: true });
  }
}

const us = (ms: number) => (ms * 1000).toFixed(0);

async function main(): Promise<void> {
  console.log(`Command: \`UPDATES=${UPDATES} npm run bench:update-cost\`\n\n${machineFacts()}\n`);
  const rows = [...(await direct()), ...(await overGrpc())];
  console.log("| path | fresh median µs | 30 s (full ring) median µs | 2 h median µs | 2 h ÷ 30 s | 2 h ÷ fresh | p99 µs fresh / 30 s / 2 h |");
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const { path, fresh, ring, long } of rows) {
    const ratio = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(2);
    const p99s = [fresh, ring, long].map((samples) => us(quantile(samples, 0.99))).join(" / ");
    console.log(`| ${path} | ${us(median(fresh))} | ${us(median(ring))} | ${us(median(long))} | ${ratio(long, ring)} | ${ratio(long, fresh)} | ${p99s} |`);
  }
}

await main();
