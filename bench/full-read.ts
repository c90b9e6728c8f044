/**
 * A FULL read of the largest session the default limits allow, against a
 * real sidecar: how long GetSession takes, how far the sidecar's RSS rises
 * while it answers, and how long the event loop is held (the worst latency
 * of health checks sent every 5 ms meanwhile).
 *
 * The session is filled through the API up to every limit: a header of
 * max_header_bytes (metadata), a full audio ring, and max_history_bytes of
 * history in one of two shapes, since the cost of a read follows the number
 * of messages as much as their bytes:
 *   - small: 100-byte transcript lines, the most items the bytes allow;
 *   - large: max_item_bytes function calls (tool results), the fewest.
 *
 * Run: npm run bench:full-read (builds first). Env: STORAGE (any of sqlite,
 * memory, redis — a redis-server of its own, as the tests start one;
 * default all three), READS (20 per shape), HISTORY_BYTES (another
 * --max-history-bytes, to see what a different limit would cost). Prints a
 * Markdown table.
 */
import { performance } from "node:perf_hooks";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { SessionStoreClient } from "../src/client/index.js";
import { ConversationItemSchema, FunctionCallSchema, SessionSchema } from "../src/gen/sessionstore/v1/session_store_pb.js";
import { defaultRules } from "../src/session/rules.js";
import { type RedisServer, startRedisServer } from "../test/support/redis-server.js";
import { startSidecar } from "../test/support/sidecar-process.js";
import { healthChecks } from "./support/health-check.js";
import { machineFacts, median, mib, quantile, rssBytes, sampleRss } from "./support/measure.js";

const STORAGES = (process.env.STORAGE ?? "sqlite,memory,redis").split(",");
const READS = Number(process.env.READS ?? 20);
const FRAME = new Uint8Array(3_200).fill(0x11);
const LINE = "a transcript sentence of about sixty characters, as spoken!";
const rules = { ...defaultRules, maxHistoryBytes: Number(process.env.HISTORY_BYTES ?? defaultRules.maxHistoryBytes) };

type Entry = { history: object[]; calls: object[] };

/** Entries of one shape that fill max_history_bytes, to within 1%, as the sidecar counts them (stamped, encoded). */
function entries(shape: "small" | "large"): Entry[] {
  const stamp = timestampFromDate(new Date());
  const out: Entry[] = [];
  let bytes = 0;
  for (let n = 0; ; n++) {
    const entry =
      shape === "small"
        ? { history: [{ itemId: `h${n}`, role: n % 2 ? "assistant" : "user", type: "message", text: LINE }], calls: [] }
        : { history: [], calls: [{ callId: `c${n}`, functionName: "search", arguments: "{}", status: "completed", result: "r".repeat(rules.maxItemBytes - 64) }] };
    const size =
      entry.history.reduce((s: number, i) => s + toBinary(ConversationItemSchema, create(ConversationItemSchema, { ...i, createdAt: stamp })).length, 0) +
      entry.calls.reduce((s: number, c) => s + toBinary(FunctionCallSchema, create(FunctionCallSchema, { ...c, createdAt: stamp })).length, 0);
    // 1% short of the limit: the stamp the sidecar sets encodes in a few bytes more or less than ours.
    if (bytes + size > rules.maxHistoryBytes * 0.99) return out;
    bytes += size;
    out.push(entry);
  }
}

/** A header just under max_header_bytes: metadata padded to fill it. */
function bigMetadata(): { notes: string } {
  const base = toBinary(SessionSchema, create(SessionSchema, { conversationId: "largest", metadata: { notes: "" } })).length;
  // Room for the server-set fields (etag, times, owner, counters).
  return { notes: "n".repeat(rules.maxHeaderBytes - base - 200) };
}

async function run(storage: string, shape: "small" | "large"): Promise<string> {
  const redis: RedisServer | undefined = storage === "redis" ? await startRedisServer() : undefined;
  const sidecar = await startSidecar({ args: ["--storage", storage, "--log-level", "info", "--max-history-bytes", String(rules.maxHistoryBytes), ...(redis ? ["--redis-url", redis.url] : [])] });
  const client = new SessionStoreClient(sidecar.address, { retry: false, timeoutMs: 60_000 });
  const health = healthChecks(sidecar.address);
  try {
    await client.createSession({ session: { conversationId: "largest", metadata: bigMetadata() }, ownerId: "bench" });
    const all = entries(shape);
    for (let i = 0; i < all.length; i += rules.maxItemsPerUpdate) {
      const slice = all.slice(i, i + rules.maxItemsPerUpdate);
      await client.updateSession({ update: { conversationId: "largest", appendHistory: slice.flatMap((e) => e.history), upsertFunctionCalls: slice.flatMap((e) => e.calls) } });
    }
    for (let i = 0; i < rules.audioBufferMaxBytes / FRAME.length; i += 100) {
      await client.updateSession({ update: { conversationId: "largest", appendAudio: Array.from({ length: 100 }, () => ({ data: FRAME })) } });
    }
    const basic = (await client.getSession({ conversationId: "largest", view: 1 })).session!;
    const first = await client.getSession({ conversationId: "largest", view: 2 });
    const responseBytes = toBinary(SessionSchema, create(SessionSchema, first.session!)).length;

    await new Promise((resolve) => setTimeout(resolve, 500));
    const baseline = rssBytes(sidecar.pid);
    const peak = sampleRss(sidecar.pid, 5);
    const times: number[] = [];
    const pings: number[] = [];
    let reading = true;
    const pinger = (async () => {
      while (reading) {
        const start = performance.now();
        await health.check();
        pings.push(performance.now() - start);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    for (let i = 0; i < READS; i++) {
      const start = performance.now();
      await client.getSession({ conversationId: "largest", view: 2 });
      times.push(performance.now() - start);
    }
    reading = false;
    await pinger;
    const peakRss = peak.stop();
    return `| ${storage} | ${shape}: ${all.length.toLocaleString("en")} ${shape === "small" ? "items" : "calls"}, ${mib(Number(basic.historyBytes))} MiB | ${mib(responseBytes)} MiB | ${median(times).toFixed(0)} | ${Math.max(...times).toFixed(0)} | ${quantile(pings, 0.99).toFixed(0)} / ${Math.max(...pings).toFixed(0)} | ${mib(baseline)} | +${mib(peakRss - baseline)} |`;
  } finally {
    health.close();
    client.close();
    await sidecar.stop();
    await redis?.stop();
  }
}

console.log(`Command: \`STORAGE=${STORAGES.join(",")} READS=${READS} HISTORY_BYTES=${rules.maxHistoryBytes} npm run bench:full-read\`\n\n${machineFacts()}\n`);
console.log("| storage | history | response | read p50 ms | read max ms | health check p99 / max ms | RSS before MiB | RSS peak rise MiB |");
console.log("|---|---|---:|---:|---:|---:|---:|---:|");
for (const storage of STORAGES) for (const shape of ["small", "large"] as const) console.log(await run(storage, shape));
