import { describe, expect, it } from "vitest";
import { SessionStatus } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { SessionError } from "../../src/session/errors.js";
import { etagOf, type SessionRecord } from "../../src/session/record.js";
import { planUpdates, type UpdatesPlan } from "../../src/session/update-plan.js";
import type { SessionUpdate } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { HOUR_MS, NOW, rules, snapshot, stored, update } from "./fixtures.js";

/** What a plan says, in a form a table can hold: each slot's verdict, and the write's header facts. */
function summary(plan: UpdatesPlan) {
  return {
    results: plan.results.map((r) => (r instanceof SessionError ? r.reason : r.applied)),
    write: plan.write && {
      version: plan.write.record.version,
      lastSeq: plan.write.record.session.lastSeq,
      status: plan.write.record.session.status,
      history: plan.write.history.map((i) => i.itemId),
      audio: plan.write.audio.map((c) => Number(c.seq)),
      dropStoredAudio: plan.write.dropStoredAudio,
      audioBytes: plan.write.record.audioBytes,
    },
  };
}

function plan(record: SessionRecord | undefined, updates: SessionUpdate[], sizes: number[] = []): UpdatesPlan {
  return planUpdates("call-1", record, updates, sizes, NOW, rules);
}

const chunk = (size: number) => ({ data: new Uint8Array(size) });
const applied = (version: number, lastSeq: bigint, extra: object = {}) => ({ version, lastSeq, status: SessionStatus.ACTIVE, history: [], audio: [], dropStoredAudio: 0, audioBytes: 0, ...extra });

describe("planUpdates: one session's group of updates", () => {
  it.each([
    { name: "no stored session", record: undefined, updates: [update(), update()], results: ["SESSION_NOT_FOUND", "SESSION_NOT_FOUND"], write: undefined },
    { name: "an expired session", record: stored({ idleMs: 25 * HOUR_MS }), updates: [update()], results: ["SESSION_NOT_FOUND"], write: undefined },
    { name: "an older epoch", record: stored(), updates: [update({ ownerEpoch: 2n, seq: 11n })], results: ["SESSION_FENCED"], write: undefined },
    { name: "a newer epoch", record: stored(), updates: [update({ ownerEpoch: 4n })], results: ["SESSION_FENCED"], write: undefined },
    { name: "the owner's epoch", record: stored(), updates: [update({ ownerEpoch: 3n, seq: 11n })], results: [true], write: applied(42, 11n) },
    { name: "epoch 0 (unfenced)", record: stored(), updates: [update({ seq: 11n })], results: [true], write: applied(42, 11n) },
    { name: "a duplicate seq", record: stored(), updates: [update({ seq: 10n }), update({ seq: 3n })], results: [false, false], write: undefined },
    { name: "no seq: always applied, last_seq kept", record: stored(), updates: [update(), update()], results: [true, true], write: applied(43, 10n) },
    { name: "an ended session", record: stored({ status: SessionStatus.ENDED }), updates: [update({ seq: 11n })], results: ["SESSION_ENDED"], write: undefined },
    { name: "a duplicate to an ended session", record: stored({ status: SessionStatus.ENDED }), updates: [update({ seq: 9n })], results: [false], write: undefined },
    { name: "a stale etag", record: stored(), updates: [update({ etag: "stale" })], results: ["ETAG_MISMATCH"], write: undefined },
    { name: "the current etag", record: stored(), updates: [update({ etag: etagOf(41) })], results: [true], write: applied(42, 10n) },
    {
      name: "an etag of the update before it in the group",
      record: stored(),
      updates: [update(), update({ etag: etagOf(42) }), update({ etag: etagOf(42) })],
      results: [true, true, "ETAG_MISMATCH"],
      write: applied(43, 10n),
    },
    { name: "ACTIVE to PAUSED", record: stored(), updates: [update({ paths: ["status"], session: { status: SessionStatus.PAUSED } })], results: [true], write: applied(42, 10n, { status: SessionStatus.PAUSED }) },
    { name: "ACTIVE to INITIATED", record: stored(), updates: [update({ paths: ["status"], session: { status: SessionStatus.INITIATED } })], results: ["INVALID_TRANSITION"], write: undefined },
    { name: "ENDED through an update", record: stored(), updates: [update({ paths: ["status"], session: { status: SessionStatus.ENDED } })], results: ["INVALID_TRANSITION"], write: undefined },
    {
      name: "a refusal between two applied updates",
      record: stored(),
      updates: [update({ seq: 11n, appendHistory: [{ itemId: "a" }] }), update({ ownerEpoch: 2n, seq: 12n, appendHistory: [{ itemId: "x" }] }), update({ seq: 12n, appendHistory: [{ itemId: "b" }] })],
      results: [true, "SESSION_FENCED", true],
      write: applied(43, 12n, { history: ["a", "b"] }),
    },
    {
      name: "a replay of the group's own update",
      record: stored(),
      updates: [update({ seq: 11n, appendHistory: [{ itemId: "a" }] }), update({ seq: 11n, appendHistory: [{ itemId: "a" }] })],
      results: [true, false],
      write: applied(42, 11n, { history: ["a"] }),
    },
  ])("$name", ({ record, updates, results, write }) => {
    expect(summary(plan(record, updates))).toEqual({ results, write });
  });

  it("answers each update with the header as that update left it", () => {
    const { results } = plan(stored(), [update({ seq: 11n, paths: ["caller"], session: { caller: "one" } }), update({ seq: 12n, paths: ["caller"], session: { caller: "two" } })]);
    expect(results.map((r) => !(r instanceof SessionError) && [r.session.caller, r.session.lastSeq, r.session.etag])).toEqual([
      ["one", 11n, etagOf(42)],
      ["two", 12n, etagOf(43)],
    ]);
  });

  it("never changes the record or the updates it is given", () => {
    const record = stored();
    const updates = [update({ seq: 11n, paths: ["caller", "metadata"], session: { caller: "x", metadata: { a: 1 } }, appendAudio: [chunk(300)], appendHistory: [{ itemId: "h" }] })];
    const before = snapshot({ record, updates });
    plan(record, updates);
    expect(snapshot({ record, updates })).toBe(before);
  });
});

describe("planUpdates: the audio ring (cap 1000 bytes)", () => {
  it.each([
    { name: "appends that fit", audioBytes: 600, sizes: [300, 300], appends: [[300]], audio: [4], dropStoredAudio: 0, bytes: 900 },
    { name: "one over: the oldest stored chunk drops", audioBytes: 900, sizes: [300, 300, 300], appends: [[300]], audio: [4], dropStoredAudio: 1, bytes: 900 },
    { name: "a small chunk pushing out a large one", audioBytes: 1000, sizes: [800, 200], appends: [[100]], audio: [4], dropStoredAudio: 1, bytes: 300 },
    { name: "a group larger than the ring: the stored ring and the oldest appended drop", audioBytes: 900, sizes: [300, 300, 300], appends: [[300, 300], [300, 300]], audio: [5, 6, 7], dropStoredAudio: 3, bytes: 900 },
  ])("$name", ({ audioBytes, sizes, appends, audio, dropStoredAudio, bytes }) => {
    const record = stored({ audioBytes, audioLastSeq: 3n });
    const { write } = plan(record, appends.map((a) => update({ appendAudio: a.map(chunk) })), sizes);
    expect({ audio: write?.audio.map((c) => Number(c.seq)), dropStoredAudio: write?.dropStoredAudio, bytes: write?.record.audioBytes }).toEqual({ audio, dropStoredAudio, bytes });
    expect(write?.record.audioLastSeq).toBe(3n + BigInt(appends.flat().length));
  });

  it("reads only the sizes of the chunks it drops, and none when nothing drops", () => {
    const read: number[] = [];
    function* sizes(): Generator<number> {
      for (const size of [300, 300, 300]) {
        read.push(size);
        yield size;
      }
    }
    planUpdates("call-1", stored({ audioBytes: 600 }), [update({ appendAudio: [chunk(300)] })], sizes(), NOW, rules);
    expect(read).toEqual([]);
    planUpdates("call-1", stored({ audioBytes: 900 }), [update({ appendAudio: [chunk(300)] })], sizes(), NOW, rules);
    expect(read).toEqual([300]);
  });

  it("refuses a chunk larger than the whole ring as INVALID_ARGUMENT, alone in its slot", () => {
    const { results, write } = plan(stored(), [update({ appendAudio: [chunk(1001)] }), update({ appendAudio: [chunk(10)] })]);
    expect(results.map((r) => (r instanceof SessionError ? r.reason : r.applied))).toEqual(["INVALID_ARGUMENT", true]);
    expect(write?.audio.map((c) => c.data.length)).toEqual([10]);
  });
});
