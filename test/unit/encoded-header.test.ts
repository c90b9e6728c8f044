import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ConversationItemSchema, SessionSchema, SessionStatus, SessionUpdateSchema } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { newSession } from "../../src/session/create-plan.js";
import { encodedHeader } from "../../src/session/encoded-header.js";
import type { SessionRecord } from "../../src/session/record.js";
import { defaultRules } from "../../src/session/rules.js";
import { applyUpdate } from "../../src/session/update.js";

const start = new Date("2026-12-02T10:00:00.250Z");
const at = (ms: number) => new Date(start.getTime() + ms);

function created(): SessionRecord {
  const input = create(SessionSchema, {
    conversationId: "call-7",
    bridgeType: "audiocodes",
    mediaFormat: "raw/lpcm16",
    metadata: { fields: { caller: { kind: { case: "stringValue", value: "+15551234567" } }, vip: { kind: { case: "boolValue", value: true } } } },
  });
  return newSession(input, { ownerId: "bridge-a", status: SessionStatus.INITIATED, now: start, rules: defaultRules, initialVersion: 40 }).record;
}

function applied(record: SessionRecord, seq: bigint, ms: number, fields: Parameters<typeof create<typeof SessionUpdateSchema>>[1]): SessionRecord {
  const outcome = applyUpdate(record, create(SessionUpdateSchema, { conversationId: "call-7", ownerEpoch: 1n, seq, ...fields }), at(ms), defaultRules);
  if (!outcome.applied) throw new Error("not applied");
  return outcome.record;
}

/** What a decoder makes of the header's encoding, and whether that is the header itself, at toBinary's length. */
function expectTrue(record: SessionRecord): void {
  const bytes = encodedHeader(record.session);
  expect(fromBinary(SessionSchema, bytes)).toEqual(fromBinary(SessionSchema, toBinary(SessionSchema, record.session)));
  expect(bytes.length).toBe(toBinary(SessionSchema, record.session).length);
}

describe("encodedHeader", () => {
  it("decodes to the header itself through runs of appends, masked updates between them, and history growing", () => {
    let record = created();
    expectTrue(record);
    let seq = 0n;
    for (let i = 1; i <= 30; i++) {
      seq += 1n;
      if (i % 10 === 0) {
        record = applied(record, seq, i * 100, { updateMask: { paths: ["status", "current_turn"] }, session: { status: SessionStatus.ACTIVE, currentTurn: i } });
      } else if (i % 4 === 0) {
        record = applied(record, seq, i * 100, { appendHistory: [create(ConversationItemSchema, { itemId: `item-${i}`, role: "user", type: "message", text: `turn ${i}` })] });
      } else {
        record = applied(record, seq, i * 100, { appendAudio: [{ data: new Uint8Array(320).fill(i) }] });
      }
      expectTrue(record);
    }
    expect(record.session.historyBytes).toBeGreaterThan(0n);
  });

  it("writes an unmasked update's header from its run rather than encoding it whole", () => {
    const record = applied(created(), 1n, 100, { appendAudio: [{ data: new Uint8Array(320) }] });
    // Its moving fields come last, after the fields that stayed as they were: an order toBinary never writes.
    expect(Buffer.from(encodedHeader(record.session)).equals(Buffer.from(toBinary(SessionSchema, record.session)))).toBe(false);
    expectTrue(record);
  });

  it("gives the same bytes for the same header object every time", () => {
    const record = applied(created(), 1n, 100, { appendAudio: [{ data: new Uint8Array(320) }] });
    expect(encodedHeader(record.session)).toBe(encodedHeader(record.session));
  });
});
