/**
 * The traffic of N live calls, as bridge processes send it: each call, every
 * 100 ms, appends 3,200 bytes of audio (100 ms of 16 kHz PCM16); every second
 * it updates two fields; every two seconds it appends a transcript item. Calls
 * are spread over BridgeUpdateStreams of callsPerStream calls each, one
 * channel (one TCP connection) per stream, as separate bridge processes
 * would have; every call starts at a random point of its 100 ms period so
 * that the load is smooth rather than in bursts. With `sink: "raw"` the same
 * writes go through RawBatchSink instead, to the transport ceiling.
 */
import { performance } from "node:perf_hooks";
import { status as GrpcCode } from "@grpc/grpc-js";
import { BridgeUpdateStream, SessionStoreClient, type UpdateParts, UpdateError } from "../../src/client/index.js";
import { quantile } from "./measure.js";
import { RawBatchSink } from "./raw-batch-sink.js";

export interface CallLoadOptions {
  address: string;
  /** Where each call's seq counting starts; every key is one call. */
  sessions: ReadonlyMap<string, { ownerEpoch: bigint; lastSeq: bigint }>;
  callsPerStream: number;
  durationMs: number;
  /** Acks of writes made before this point are not measured. */
  warmupMs: number;
  /** How long to wait at the end for acks still due. */
  drainTimeoutMs: number;
  /** BridgeUpdateStream (the default), or RawBatchSink for the transport ceiling. */
  sink?: "bridge" | "raw";
  /** 20 ms audio frames (50 appends a second of 640 bytes) instead of 100 ms ones. */
  frameMs?: 20 | 100;
}

/** What a call writes through: one per stream. */
interface Sink {
  write(conversationId: string, parts: UpdateParts): Promise<unknown>;
  close(): Promise<unknown>;
}

export interface CallLoadResult {
  streams: number;
  /** Updates per second the calls asked for. */
  offeredPerSecond: number;
  /** Acks received per second within the measured window. */
  ackedPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Writes refused by the sidecar or abandoned at the end (both should be 0). */
  failed: number;
  /** The failed writes by why: the refusal's reason, or CLOSED for a write still unacknowledged when the drain timed out. */
  failedBy: Map<string, number>;
  /** Acks refusing an update as OVERLOADED (each such write was sent again, and counts once acked). */
  shed: number;
  /**
   * Times the sidecar received an update for each one it committed: 1 when
   * nothing is shed; each OVERLOADED refusal is one more receipt (a decode, a
   * queue slot, an ack) of an update that is sent again.
   */
  receivedPerCommitted: number;
  /** CPU the benchmark process (all simulated bridges) used, as a share of one core. */
  clientCpu: number;
}

/** Bytes of one audio frame of 16 kHz 16-bit mono PCM per millisecond. */
const PCM_BYTES_PER_MS = 32;
const TEXT = "a transcript sentence of about sixty characters, as spoken!";

export async function runCallLoad(options: CallLoadOptions): Promise<CallLoadResult> {
  const ids = [...options.sessions.keys()];
  const tickMs = options.frameMs ?? 100;
  const frame = new Uint8Array(tickMs * PCM_BYTES_PER_MS).fill(0x7f);
  const ticksPerSecond = 1000 / tickMs;
  const streamCount = Math.ceil(ids.length / options.callsPerStream);
  const clients: SessionStoreClient[] = [];
  const streams: Sink[] = Array.from({ length: streamCount }, (_, s) => {
    if (options.sink === "raw") return new RawBatchSink(options.address);
    const client = new SessionStoreClient(options.address, { channelOptions: { "grpc.use_local_subchannel_pool": 1 } });
    clients.push(client);
    const stream = new BridgeUpdateStream(client, { maxUnacked: 20_000 });
    ids.slice(s * options.callsPerStream, (s + 1) * options.callsPerStream).forEach((id) => stream.track(id, options.sessions.get(id)!));
    return stream;
  });

  const latencies: number[] = [];
  let failed = 0;
  const failedBy = new Map<string, number>();
  let ackedInWindow = 0;
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = start + options.durationMs;
  const cpuBefore = process.cpuUsage();

  const record = (write: Promise<unknown>) => {
    const sentAt = performance.now();
    write.then(
      () => {
        const now = performance.now();
        if (sentAt >= measureFrom && sentAt < end) latencies.push(now - sentAt);
        if (now >= measureFrom && now < end) ackedInWindow++;
      },
      (err: unknown) => {
        failed++;
        const why = err instanceof UpdateError ? (err.local ?? err.reason ?? GrpcCode[err.code]) : String(err);
        failedBy.set(why, (failedBy.get(why) ?? 0) + 1);
      },
    );
  };

  const calls = ids.map(
    (id, i) =>
      new Promise<void>((done) => {
        const stream = streams[Math.floor(i / options.callsPerStream)]!;
        let tick = 0;
        const onTick = () => {
          if (performance.now() >= end) {
            clearInterval(interval);
            done();
            return;
          }
          record(stream.write(id, { appendAudio: [{ data: frame }] }));
          if (tick % ticksPerSecond === 0) {
            record(stream.write(id, { updateMask: { paths: ["current_turn", "active_response_id"] }, session: { currentTurn: tick / ticksPerSecond, activeResponseId: `resp_${tick}` } }));
          }
          if (tick % (2 * ticksPerSecond) === 5) record(stream.write(id, { appendHistory: [{ itemId: `${id}-${tick}`, role: "assistant", type: "message", text: TEXT }] }));
          tick++;
        };
        let interval: NodeJS.Timeout | undefined;
        setTimeout(() => {
          onTick();
          interval = setInterval(onTick, tickMs);
        }, Math.random() * tickMs);
      }),
  );
  await Promise.all(calls);
  const cpu = process.cpuUsage(cpuBefore);
  const elapsedMs = performance.now() - start;
  // Writes still unacknowledged after the drain timeout are rejected, and counted as failed.
  await Promise.all(streams.map((s) => (s instanceof BridgeUpdateStream ? s.close(options.drainTimeoutMs) : s.close())));
  await new Promise((resolve) => setImmediate(resolve));
  clients.forEach((c) => c.close());

  const windowSeconds = (end - measureFrom) / 1000;
  const bridges = streams.filter((s): s is BridgeUpdateStream => s instanceof BridgeUpdateStream);
  const shed = bridges.reduce((n, s) => n + s.stats.overloaded, 0);
  const acked = bridges.reduce((n, s) => n + s.stats.acked, 0);
  return {
    streams: streamCount,
    offeredPerSecond: ids.length * (ticksPerSecond + 1 + 0.5),
    ackedPerSecond: ackedInWindow / windowSeconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    failed,
    failedBy,
    shed,
    receivedPerCommitted: acked > 0 ? (acked + shed) / acked : 1,
    clientCpu: (cpu.user + cpu.system) / 1000 / elapsedMs,
  };
}
