/**
 * The resume round trip as the platform sees it, with a 30-minute call's state behind it:
 *   - AudioCodes: socket opened → session.resume sent → session.accepted, with the DTMF bot
 *     (offline mode) and with a model (--model-url: the bridge opens a new model session and
 *     replays the conversation before it accepts);
 *   - Twilio: a new stream's socket opened → connected + start sent → the first bot audio
 *     (resume with create_if_missing, new model session, replay, the model's first words).
 * p50 / p99 for 1 resume at a time and 100 at once. Real processes on loopback: one sidecar
 * (SQLite, the default), the bridges, and the mock Realtime endpoint (test/support), each its own
 * process, so the load generator's event loop is not the model's.
 *
 * A 30-minute call: 180 turns (a caller line and an answer each), a lookup_order call with its
 * output every 20 turns, the stored realtime_session, and a full audio ring (the default 960,000
 * bytes). Sessions are reused across rounds (--max-resume-attempts is raised for that).
 *
 * Run: npm run bench:resume (builds first). Env: SINGLE (sequential resumes, default 20),
 * CONCURRENT (default 100), RING (audio ring bytes per session, default 960000). A resume the
 * bridge could not complete (it answers session.error, e.g. when the sidecar took longer than the
 * bridge's 5 s deadline) is counted as failed, not timed. Prints a Markdown table and the load average before and after.
 */
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { WebSocket } from "ws";
import { SessionStatus, SessionStoreClient } from "../src/client/index.js";
import { realtimeSessionConfig } from "../examples/model-session/src/model-call.js";
import { type BridgeProcess, startBridgeProcess, startMockRealtimeProcess } from "../test/examples/support/bridge-process.js";
import { startSidecar } from "../test/support/sidecar-process.js";
import { machineFacts, quantile } from "./support/measure.js";

const SINGLE = Number(process.env.SINGLE ?? 20);
const CONCURRENT = Number(process.env.CONCURRENT ?? 100);
const TURNS = 180;
const RING_BYTES = Number(process.env.RING ?? 960_000);

type Platform = "audiocodes" | "twilio";

/** Stores one 30-minute call, PAUSED, as a bridge of `platform` would have left it. */
async function seed(client: SessionStoreClient, conversationId: string, platform: Platform): Promise<void> {
  const format = platform === "twilio" ? ({ type: "audio/pcmu" } as const) : ({ type: "audio/pcm", rate: 24_000 } as const);
  const { session } = await client.createSession({
    ownerId: "seed",
    session: {
      conversationId,
      bridgeType: platform,
      mediaFormat: platform === "twilio" ? "audio/x-mulaw;rate=8000" : "raw/lpcm16_24",
      metadata: { realtime_session: realtimeSessionConfig(format) },
    },
  });
  const history: { itemId: string; role: string; type: string; text: string; data?: Record<string, string> }[] = [];
  const calls: { callId: string; functionName: string; arguments: string; status: string; result: string }[] = [];
  for (let t = 0; t < TURNS; t++) {
    history.push({ itemId: `u${t}`, role: "user", type: "message", text: `Caller line ${t}: a sentence or two of what the caller said, about eighty chars.` });
    if (t % 20 === 19) {
      const callId = `call_${t}`;
      history.push({ itemId: `f${t}`, role: "assistant", type: "function_call", text: "", data: { call_id: callId } });
      calls.push({ callId, functionName: "lookup_order", arguments: '{"order_id":"A-1001"}', status: "completed", result: '{"found":true,"order_id":"A-1001","status":"shipped","carrier":"UPS"}' });
    }
    history.push({ itemId: `a${t}`, role: "assistant", type: "message", text: `Answer ${t}: the model's reply, usually a little longer than what the caller said, some one hundred and sixty characters in all.` });
  }
  const audio = RING_BYTES > 0 ? Array.from({ length: 48 }, () => ({ data: new Uint8Array(Math.ceil(RING_BYTES / 48)).fill(0x55) })) : [];
  await client.updateSession({ update: { conversationId, ownerEpoch: session!.ownerEpoch, appendHistory: history, upsertFunctionCalls: calls, appendAudio: audio, updateMask: { paths: ["status", "current_turn"] }, session: { status: SessionStatus.ACTIVE, currentTurn: TURNS } } });
  await client.updateSession({ update: { conversationId, ownerEpoch: session!.ownerEpoch, updateMask: { paths: ["status"] }, session: { status: SessionStatus.PAUSED } } });
}

/** Opens a socket to `url`, sends `messages` once open, and resolves with ms until `done` accepts a message. */
function roundTrip(url: string, messages: object[], done: (m: { type?: string; event?: string }) => boolean): Promise<number> {
  const started = performance.now();
  const ws = new WebSocket(url);
  return new Promise((resolve, reject) => {
    ws.once("open", () => {
      for (const m of messages) ws.send(JSON.stringify(m));
    });
    ws.on("message", (data) => {
      const message = JSON.parse(data.toString()) as { type?: string; event?: string; reason?: string };
      if (message.type === "session.error") return reject(new Error(`session.error: ${message.reason}`));
      if (!done(message)) return;
      const ms = performance.now() - started;
      ws.terminate(); // dropped as a network break would, ready for the next resume
      resolve(ms);
    });
    ws.once("error", reject);
    ws.once("close", () => reject(new Error("closed before the answer")));
  });
}

function resumeOnce(kind: string, bridge: BridgeProcess, id: string): Promise<number> {
  if (kind === "twilio") {
    const start = { event: "start", streamSid: `MZ${id}`, start: { streamSid: `MZ${id}`, callSid: id, customParameters: {} } };
    return roundTrip(bridge.url, [{ event: "connected", protocol: "Call", version: "1.0.0" }, start], (m) => m.event === "media");
  }
  return roundTrip(bridge.url, [{ type: "session.resume", conversationId: id }], (m) => m.type === "session.accepted");
}

async function measure(kind: string, bridge: BridgeProcess, ids: string[]): Promise<string[]> {
  const single: PromiseSettledResult<number>[] = [];
  for (const id of ids.slice(0, SINGLE)) single.push((await Promise.allSettled([resumeOnce(kind, bridge, id)]))[0]!);
  await sleep(500); // the dropped sockets' PAUSED writes land before the crowd arrives
  const crowd = await Promise.allSettled(ids.slice(0, CONCURRENT).map((id) => resumeOnce(kind, bridge, id)));
  await sleep(2_500); // and the model sessions of the dropped sockets are let go
  return [row(kind, 1, single), row(kind, CONCURRENT, crowd)];
}

function row(kind: string, concurrent: number, results: PromiseSettledResult<number>[]): string {
  const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = results.length - ok.length;
  const f = (q: number) => (ok.length > 0 ? quantile(ok, q).toFixed(1) : "–");
  return `| ${kind} | ${concurrent} | ${ok.length} | ${failed} | ${f(0.5)} | ${f(0.99)} |`;
}

async function main(): Promise<void> {
  const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
  console.log(machineFacts());
  console.log(`load average before: ${load()}`);
  const sidecar = await startSidecar({ args: ["--log-level", "info", "--max-resume-attempts", "100000"] });
  const client = new SessionStoreClient(sidecar.address, { timeoutMs: 60_000 });
  const started: { stop(): Promise<unknown> }[] = [];
  const rows: string[] = [];
  try {
    // Everything started is stopped in `finally`, whatever fails first (a refused seed, a bridge that does not start).
    const model = await startMockRealtimeProcess(["--port", "0"]);
    started.push(model);
    const count = Math.max(SINGLE, CONCURRENT);
    const audiocodes = Array.from({ length: count }, (_, i) => `ac-${i}`);
    const twilio = Array.from({ length: count }, (_, i) => `CA${String(i).padStart(32, "0")}`);
    for (const id of audiocodes) await seed(client, id, "audiocodes");
    for (const id of twilio) await seed(client, id, "twilio");
    console.error(`seeded ${audiocodes.length + twilio.length} sessions`);
    const bridges: [string, BridgeProcess][] = [];
    const add = async (kind: string, options: Parameters<typeof startBridgeProcess>[0]) => {
      const bridge = await startBridgeProcess(options);
      started.push(bridge);
      bridges.push([kind, bridge]);
    };
    await add("audiocodes (DTMF bot)", { sidecar: sidecar.address, ownerId: "bench-ac-offline" });
    await add("audiocodes (model)", { sidecar: sidecar.address, ownerId: "bench-ac-model", modelUrl: model.url });
    await add("twilio", { platform: "twilio", sidecar: sidecar.address, ownerId: "bench-twilio", modelUrl: model.url });
    for (const [kind, bridge] of bridges) {
      rows.push(...(await measure(kind, bridge, kind === "twilio" ? twilio : audiocodes)));
      console.error(`measured ${kind}`);
    }
  } finally {
    await Promise.all(started.map((p) => p.stop()));
    client.close();
    await sidecar.stop();
  }
  console.log("| platform | concurrent | resumed | failed | p50 ms | p99 ms |\n|---|---|---|---|---|---|");
  for (const row of rows) console.log(row);
  console.log(`load average after: ${load()}`);
}

await main();
