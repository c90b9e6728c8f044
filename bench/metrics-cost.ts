/**
 * What the metrics code itself adds to one streamed update, apart from the
 * rest of the sidecar: the calls the update path makes with --metrics-listen
 * on (a message received and an ack sent on the gRPC meter, the ack latency
 * observed, the group's tally), run in a loop on groups of GROUP updates, in
 * ns per update; and what one scrape of a registry holding those series
 * costs, in ms. A figure the call simulator's run-to-run noise on a shared
 * machine cannot show.
 *
 * Run: npm run bench:metrics-cost. Env: GROUP (32), DURATION_S (3).
 */
import type * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { SessionSchema } from "../src/gen/sessionstore/v1/session_store_pb.js";
import { SidecarMetrics } from "../src/metrics/sidecar-metrics.js";
import type { UpdateResult } from "../src/store/store.js";

const GROUP = Number(process.env.GROUP ?? 32);
const DURATION_MS = Number(process.env.DURATION_S ?? 3) * 1000;

const metrics = new SidecarMetrics();
const method = { path: "/sessionstore.v1.SessionStoreService/StreamUpdateBatches", requestStream: true, responseStream: true } as grpc.ServerMethodDefinition<unknown, unknown>;
const meter = metrics.grpc.start(method);
const session = create(SessionSchema, { conversationId: "c" });
const results: UpdateResult[] = Array.from({ length: GROUP }, (_, i) => ({ session, applied: i % 16 !== 0 }));

function group(): void {
  const now = performance.now();
  for (let i = 0; i < GROUP; i++) {
    meter.received();
    meter.sent();
  }
  metrics.groupCommitted(results, 0.002);
  for (let i = 0; i < GROUP; i++) metrics.acked((now - (now - 3)) / 1000);
}

// Warm up the JIT, then measure.
for (let i = 0; i < 10_000; i++) group();
let updates = 0;
const started = performance.now();
while (performance.now() - started < DURATION_MS) {
  for (let i = 0; i < 1000; i++) group();
  updates += 1000 * GROUP;
}
const nsPerUpdate = ((performance.now() - started) * 1e6) / updates;

const scrapes: number[] = [];
for (let i = 0; i < 50; i++) {
  const t = performance.now();
  await metrics.registry.metrics();
  scrapes.push(performance.now() - t);
}
scrapes.sort((a, b) => a - b);
console.log(`groups of ${GROUP}: ${nsPerUpdate.toFixed(0)} ns of metrics per update; a scrape: median ${scrapes[25]!.toFixed(2)} ms, max ${scrapes.at(-1)!.toFixed(2)} ms`);
