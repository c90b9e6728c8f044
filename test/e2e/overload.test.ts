import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BridgeUpdateStream, SessionStoreClient, SessionView, statusDetailsOf } from "../../src/client/index.js";
import { rssBytes } from "../../bench/support/measure.js";
import { ServingStatus, watchHealth } from "../support/health-watch.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";
import { ackReason, openUpdateStream } from "../support/update-stream-raw.js";

const SESSIONS = 20;
const WRITES_PER_SESSION = 150;
const FRAME = new Uint8Array(3_200).fill(5);
/**
 * A second of 16 kHz PCM16 a write, for the burst the client helper resends:
 * a group holds at most 4 MiB, so 3,000 such writes take dozens of groups
 * one after another, and most of them wait past the timeout, however fast
 * the machine.
 */
const LARGE_FRAME = new Uint8Array(32_000).fill(6);
/** What the sidecar may hold at most while 96 MB of updates arrive at once: streams and the commit queue are bounded. */
const RSS_BOUND_BYTES = 400 * 1024 * 1024;

// A queue timeout of 20 ms makes this sidecar's capacity small and the test
// deterministic: a burst of thousands of updates cannot all be committed
// within it, so while the first groups commit, the rest of the burst is shed.
describe("overload: updates that cannot be committed in time", () => {
  let sidecar: Sidecar;
  let client: SessionStoreClient;

  beforeAll(async () => {
    sidecar = await startSidecar({ args: ["--update-queue-timeout", "20ms"] });
    client = new SessionStoreClient(sidecar.address);
  });

  afterAll(async () => {
    client?.close();
    await sidecar?.stop("SIGTERM");
  });

  async function createSessions(prefix: string): Promise<string[]> {
    const ids = Array.from({ length: SESSIONS }, (_, i) => `${prefix}-${i}`);
    for (const id of ids) await client.createSession({ session: { conversationId: id }, ownerId: "bridge-1" });
    return ids;
  }

  it("are refused as OVERLOADED with RetryInfo and not applied; of each session only a prefix is applied, and it is stored", async () => {
    const ids = await createSessions("raw");
    const stream = openUpdateStream(sidecar.address);
    for (let seq = 1; seq <= WRITES_PER_SESSION; seq++) {
      for (const id of ids) await stream.send({ conversationId: id, ownerEpoch: 1n, seq: BigInt(seq), appendHistory: [{ itemId: `${id}-${seq}` }], appendAudio: [{ data: FRAME }] });
    }
    const acks = await stream.waitForAcks(SESSIONS * WRITES_PER_SESSION);
    stream.close();

    const shed = acks.filter((a) => ackReason(a) === "OVERLOADED");
    expect(shed.length).toBeGreaterThan(0);
    expect(acks.filter((a) => a.error && ackReason(a) !== "OVERLOADED")).toEqual([]);
    const details = statusDetailsOf(shed[0]!.error!);
    expect(shed[0]!.error!.code).toBe(14); // UNAVAILABLE
    expect(details.errorInfo?.metadata.queue_timeout_ms).toBe("20");
    expect(details.retryInfo?.retryDelay).toBeDefined();

    for (const id of ids) {
      const ofSession = acks.filter((a) => a.conversationId === id);
      const applied = ofSession.filter((a) => a.applied).map((a) => Number(a.seq));
      // Once one update of a session is refused, every later one is: what is applied has no gaps.
      expect(applied).toEqual(Array.from({ length: applied.length }, (_, i) => i + 1));
      const { session } = await client.getSession({ conversationId: id, view: SessionView.FULL });
      expect(Number(session!.lastSeq)).toBe(applied.length);
      expect(session!.conversationHistory.map((h) => h.itemId)).toEqual(applied.map((seq) => `${id}-${seq}`));
    }
  });

  it("from several streams at once get an ack each, applied or OVERLOADED: the sidecar never stops reading", async () => {
    // Eight streams of large writes, each held at its own 8 MiB unacknowledged, together keep the
    // commit queue full while groups shed what waited past 20 ms: the held streams are woken in
    // turn, and every one of them must be read to its end.
    const streams = await Promise.all(
      Array.from({ length: 8 }, async (_, s) => ({ ids: await createSessions(`many-${s}`), stream: openUpdateStream(sidecar.address) })),
    );
    const writes = 15;
    await Promise.all(
      streams.map(async ({ ids, stream }) => {
        for (let seq = 1; seq <= writes; seq++) {
          for (const id of ids) await stream.send({ conversationId: id, ownerEpoch: 1n, seq: BigInt(seq), appendAudio: [{ data: LARGE_FRAME }] });
        }
      }),
    );
    const acks = (await Promise.all(streams.map(({ stream }) => stream.waitForAcks(SESSIONS * writes)))).flat();
    for (const { stream } of streams) stream.close();

    expect(acks.filter((a) => a.error && ackReason(a) !== "OVERLOADED")).toEqual([]);
    for (const { ids } of streams) {
      for (const id of ids) {
        const applied = acks.filter((a) => a.conversationId === id && a.applied).length;
        const { session } = await client.getSession({ conversationId: id });
        expect(Number(session!.lastSeq)).toBe(applied);
      }
    }
  });

  it("are sent again by BridgeUpdateStream after the pause the sidecar asks for, while it keeps writing, until every write is stored, in order", async () => {
    const ids = await createSessions("bridge");
    const stream = new BridgeUpdateStream(client, { maxUnacked: SESSIONS * WRITES_PER_SESSION });
    for (const id of ids) stream.track(id, { ownerEpoch: 1n, lastSeq: 0n });
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(sidecar.pid))), 50);
    const writes: Promise<unknown>[] = [];
    // In waves, so that new writes of a session arrive while its refused ones wait to be resent.
    for (let n = 1; n <= WRITES_PER_SESSION; n++) {
      for (const id of ids) writes.push(stream.write(id, { appendHistory: [{ itemId: `${id}-${n}` }], appendAudio: [{ data: LARGE_FRAME }] }));
      if (n % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await Promise.all(writes);
    clearInterval(sampler);
    await stream.close();

    expect(stream.stats.overloaded).toBeGreaterThan(0);
    expect(peakRss).toBeLessThan(RSS_BOUND_BYTES);
    for (const id of ids) {
      const { session } = await client.getSession({ conversationId: id, view: SessionView.FULL });
      expect(Number(session!.lastSeq)).toBe(WRITES_PER_SESSION);
      expect(session!.conversationHistory.map((h) => h.itemId)).toEqual(Array.from({ length: WRITES_PER_SESSION }, (_, i) => `${id}-${i + 1}`));
    }
  });

  it("held past its capacity for seconds, turns readiness NOT_SERVING while its calls' writes go on, and SERVING once the load ends, with every write stored", async () => {
    const readiness = watchHealth(sidecar.address);
    try {
      await readiness.until(ServingStatus.SERVING);
      // Eight bridges, each keeping ten large writes of each of its calls in flight: 1,600 in all,
      // more than the commit queue admits (a group's worth, 1,024) and, at 32 KB each, more than
      // commits within 20 ms on any machine, so streams are held and updates shed for as long as it lasts.
      const bridges = await Promise.all(
        Array.from({ length: 8 }, async (_, b) => {
          const ids = await createSessions(`ready-${b}`);
          const stream = new BridgeUpdateStream(client, { maxUnacked: 10 * SESSIONS });
          for (const id of ids) stream.track(id, { ownerEpoch: 1n, lastSeq: 0n });
          return { ids, stream };
        }),
      );
      let unready = false;
      void readiness.until(ServingStatus.NOT_SERVING).then(() => (unready = true));
      let ackedWhileUnready = 0;
      const written = new Map<string, number>();
      const deadline = Date.now() + 30_000;
      await Promise.all(
        bridges.flatMap(({ ids, stream }) =>
          ids.map(async (id) => {
            while (ackedWhileUnready < 500 && Date.now() < deadline) {
              await Promise.all(
                Array.from({ length: 10 }, () => stream.write(id, { appendAudio: [{ data: LARGE_FRAME }] }).then(() => {
                  written.set(id, (written.get(id) ?? 0) + 1);
                  if (unready) ackedWhileUnready++;
                })),
              );
            }
          }),
        ),
      );
      await Promise.all(bridges.map(({ stream }) => stream.close()));

      // Unready, and the calls already on the sidecar went on writing meanwhile.
      expect(unready).toBe(true);
      expect(ackedWhileUnready).toBeGreaterThanOrEqual(500);
      expect(bridges.reduce((n, { stream }) => n + stream.stats.overloaded, 0)).toBeGreaterThan(0);
      // A second without pressure, and the next probe turns it ready again.
      await readiness.until(ServingStatus.SERVING);
      for (const { ids } of bridges) {
        for (const id of ids) {
          const { session } = await client.getSession({ conversationId: id });
          expect(Number(session!.lastSeq)).toBe(written.get(id));
        }
      }
    } finally {
      readiness.close();
    }
  });
});
