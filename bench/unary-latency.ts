/**
 * Unary latency of GetSession and ResumeSession beside an empty call
 * (grpc.health.v1.Health/Check) on the same sidecar process, one call in
 * flight at a time, so the figures show what the store adds to grpc-js's own
 * per-call cost. Run: npm run bench:unary (builds first). Prints a Markdown
 * table; docs/BENCHMARKS.md holds a recorded run.
 */
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { grpcServiceDefinition } from "../src/grpc/grpc-service.js";
import { SessionStoreClient } from "../src/client/index.js";
import { Health, HealthCheckRequestSchema } from "../src/gen/grpc/health/v1/health_pb.js";
import { startSidecar } from "../test/support/sidecar-process.js";

const CALLS = Number(process.env.CALLS ?? 3000);
const WARMUP = 300;

interface Row {
  name: string;
  p50: number;
  p99: number;
}

async function measure(name: string, call: (i: number) => Promise<unknown>): Promise<Row> {
  for (let i = 0; i < WARMUP; i++) await call(i);
  const samples: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const start = performance.now();
    await call(WARMUP + i);
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return { name, p50: at(0.5), p99: at(0.99) };
}

async function main(): Promise<void> {
  // Resumes are capped per session, so each resume gets a session of its own.
  const sessions = WARMUP + CALLS;
  const sidecar = await startSidecar({ args: ["--log-level", "info", "--max-sessions", String(sessions + 10)] });
  const client = new SessionStoreClient(sidecar.address);
  const HealthClient = grpc.makeGenericClientConstructor(grpcServiceDefinition(Health), "Health");
  const health = new HealthClient(sidecar.address, grpc.credentials.createInsecure());
  const check = create(HealthCheckRequestSchema, {});
  const emptyCall = () => new Promise((resolve, reject) => (health as unknown as Record<string, Function>).check!.call(health, check, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res))));

  const audio = new Uint8Array(3200);
  await client.createSession({ session: { conversationId: "bench-get", bridgeType: "audiocodes" } });
  await client.updateSession({
    update: {
      conversationId: "bench-get",
      appendHistory: Array.from({ length: 20 }, (_, i) => ({ itemId: `h${i}`, role: i % 2 ? "assistant" : "user", text: "a sentence of about this length" })),
      appendAudio: Array.from({ length: 10 }, () => ({ data: audio })),
    },
  });
  for (let i = 0; i < sessions; i++) await client.createSession({ session: { conversationId: `bench-resume-${i}` } });

  const rows = [
    await measure("Health/Check (empty call)", emptyCall),
    await measure("GetSession (BASIC)", () => client.getSession({ conversationId: "bench-get", view: 1 })),
    await measure("GetSession (FULL: 20 items, 32 kB audio)", () => client.getSession({ conversationId: "bench-get" })),
    await measure("ResumeSession (BASIC)", (i) => client.resumeSession({ conversationId: `bench-resume-${i}`, ownerId: "bench", view: 1 })),
  ];
  const base = rows[0]!;
  console.log(`node ${process.version}, ${cpus().length} cores, ${CALLS} calls each after ${WARMUP} warm-up, one in flight, SQLite on a temp file\n`);
  console.log("| call | p50 ms | p99 ms | p50 / empty | p99 / empty |");
  console.log("|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.name} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${(r.p50 / base.p50).toFixed(2)} | ${(r.p99 / base.p99).toFixed(2)} |`);
  }
  health.close();
  client.close();
  await sidecar.stop();
}

await main();
