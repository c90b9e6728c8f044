import { create, fromBinary, type Message, toBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionStoreClient } from "../../src/client/index.js";
import {
  ConversationItemSchema,
  CreateSessionRequestSchema,
  SessionSchema,
  SessionStoreService,
  SessionUpdateSchema,
  StreamUpdateBatchesResponseSchema,
  UpdateAckSchema,
  UpdateSessionRequestSchema,
  type Session,
} from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { concatFields } from "../../src/grpc/length-delimited.js";
import { MAX_STRUCT_DEPTH } from "../../src/grpc/request-decoding.js";
import { RawClient, type RawResult } from "../support/raw-grpc.js";
import { startSidecar, type Sidecar } from "../support/sidecar-process.js";
import { concatBytes } from "../../src/grpc/length-delimited.js";
import { lengthDelimited, nestedStructBytes } from "../support/wire-bytes.js";

const MAX_MESSAGE_BYTES = 2 * 1024 * 1024;

/** Bytes no message decodes from: a tag with wire type 7, which does not exist. */
const ILLEGAL_WIRE_TYPE = Uint8Array.from([0x0f]);
/** Field 1, length-delimited, claiming 100 bytes that are not there. */
const TRUNCATED = Uint8Array.from([0x0a, 0x64, 0x01]);

function expectMalformed(result: RawResult): Record<string, string> {
  expect({ code: result.code, reason: result.errorDetails.errorInfo?.reason, domain: result.errorDetails.errorInfo?.domain }).toEqual({
    code: status.INVALID_ARGUMENT,
    reason: "MALFORMED_REQUEST",
    domain: "sessionstore",
  });
  return result.errorDetails.errorInfo!.metadata;
}

function update(conversationId: string, seq: number): Uint8Array {
  return toBinary(SessionUpdateSchema, create(SessionUpdateSchema, { conversationId, seq: BigInt(seq), appendHistory: [{ itemId: `i${seq}`, text: `turn ${seq}` }] }));
}

/** Whether a decoded message, or any message inside it, kept fields its schema does not define. */
function hasUnknownFields(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasUnknownFields);
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return false;
  if ((value as Message).$unknown?.length) return true;
  return Object.values(value).some(hasUnknownFields);
}

// Requests the sidecar cannot decode are answered with INVALID_ARGUMENT
// (MALFORMED_REQUEST) naming what is wrong; nothing of them is stored.
describe("malformed requests", () => {
  let sidecar: Sidecar;
  let client: SessionStoreClient;
  let raw: RawClient;

  beforeAll(async () => {
    sidecar = await startSidecar({ args: ["--max-message-bytes", String(MAX_MESSAGE_BYTES)] });
    client = sidecar.client();
    raw = new RawClient(sidecar.address);
  });
  afterAll(async () => {
    raw.close();
    await sidecar.stop();
  });

  const unary = SessionStoreService.methods.filter((m) => m.methodKind === "unary");

  it.each(unary.map((m) => [m.name, m.input.typeName]))("%s: undecodable bytes get MALFORMED_REQUEST naming the type and the problem", async (name, typeName) => {
    for (const [bytes, problem] of [
      [ILLEGAL_WIRE_TYPE, /wire type 7/],
      [TRUNCATED, /premature EOF|illegal tag/],
    ] as const) {
      const result = await raw.unary(name, bytes);
      expect(expectMalformed(result)).toEqual({ message_type: typeName });
      expect(result.details).toContain(typeName);
      expect(result.details).toMatch(problem);
    }
  });

  it("refuses a string field that is not UTF-8", async () => {
    const valid = toBinary(CreateSessionRequestSchema, create(CreateSessionRequestSchema, { session: { conversationId: "utf8-1", caller: "éé" } }));
    const at = Buffer.from(valid).indexOf(Buffer.from("éé"));
    const invalid = Uint8Array.from(valid);
    invalid.set([0xc3, 0x28, 0xc3, 0x28], at); // 0xc3 must be followed by a continuation byte
    const result = await raw.unary("CreateSession", invalid);
    expectMalformed(result);
    expect(result.details).toMatch(/utf-?8/i);
    expect((await raw.unary("CreateSession", valid)).code).toBe(status.OK);
  });

  describe("nesting", () => {
    const createWithMetadata = (id: string, depth: number) =>
      concatBytes(lengthDelimited(CreateSessionRequestSchema.field.session.number, concatBytes(
        toBinary(SessionSchema, create(SessionSchema, { conversationId: id })),
        lengthDelimited(SessionSchema.field.metadata.number, nestedStructBytes(depth)),
      )));

    it(`accepts a Struct nested ${MAX_STRUCT_DEPTH} levels in metadata, and where a Struct sits deepest in any request`, async () => {
      expect((await raw.unary("CreateSession", createWithMetadata("deep-max", MAX_STRUCT_DEPTH))).code).toBe(status.OK);
      const { session } = await client.getSession({ conversationId: "deep-max" });
      // Structs are JSON objects in protobuf-es messages.
      let level: unknown = session!.metadata;
      let depth = 0;
      for (; typeof level === "object" && level !== null; level = (level as Record<string, unknown>).a) depth += 1;
      expect(depth).toBe(MAX_STRUCT_DEPTH);

      // UpdateSessionRequest > SessionUpdate > Session > ConversationItem > data: decoded, then judged
      // by the rules (a session in an update carries no history), not refused as undecodable.
      const itemWith = (depth: number) =>
        concatBytes(toBinary(ConversationItemSchema, create(ConversationItemSchema, { itemId: "deep" })), lengthDelimited(ConversationItemSchema.field.data.number, nestedStructBytes(depth)));
      const item = itemWith(MAX_STRUCT_DEPTH);
      const deepest = (depth: number) =>
        lengthDelimited(UpdateSessionRequestSchema.field.update.number, concatBytes(
          toBinary(SessionUpdateSchema, create(SessionUpdateSchema, { conversationId: "deep-max" })),
          lengthDelimited(SessionUpdateSchema.field.session.number, lengthDelimited(SessionSchema.field.conversationHistory.number, itemWith(depth))),
        ));
      expect((await raw.unary("UpdateSession", deepest(MAX_STRUCT_DEPTH))).errorDetails.errorInfo?.reason).not.toBe("MALFORMED_REQUEST");
      expectMalformed(await raw.unary("UpdateSession", deepest(MAX_STRUCT_DEPTH + 1)));

      const appended = concatBytes(
        toBinary(SessionUpdateSchema, create(SessionUpdateSchema, { conversationId: "deep-max" })),
        lengthDelimited(SessionUpdateSchema.field.appendHistory.number, item),
      );
      expect((await raw.unary("UpdateSession", lengthDelimited(UpdateSessionRequestSchema.field.update.number, appended))).code).toBe(status.OK);
    });

    it.each([50, 100_000])("refuses a Struct nested %i levels with MALFORMED_REQUEST, quickly, and stays responsive", async (depth) => {
      const started = Date.now();
      const result = await raw.unary("CreateSession", createWithMetadata(`deep-${depth}`, depth));
      expectMalformed(result);
      expect(result.details).toMatch(/recursion depth/);
      expect(Date.now() - started).toBeLessThan(2_000);
      await expect(client.getSession({ conversationId: `deep-${depth}` })).rejects.toMatchObject({ code: status.NOT_FOUND });
      expect((await client.getStats({})).totalSessions).toBeGreaterThan(0n);
    });
  });

  describe("on the update streams", () => {
    beforeAll(async () => {
      await client.createSession({ session: { conversationId: "stream-1" } });
      await client.createSession({ session: { conversationId: "stream-2" } });
    });

    it("StreamUpdates: acks what came before a bad message, then ends naming it; nothing after it is applied", async () => {
      const result = await raw.stream("StreamUpdates", [update("stream-1", 1), update("stream-1", 2), ILLEGAL_WIRE_TYPE, update("stream-1", 3)]);
      const acks = result.responses.map((r) => fromBinary(UpdateAckSchema, r));
      expect(acks.map((a) => [a.seq, a.applied, a.error])).toEqual([
        [1n, true, undefined],
        [2n, true, undefined],
      ]);
      expect(expectMalformed(result)).toEqual({ message_type: SessionUpdateSchema.typeName, frame_index: "2" });
      expect(result.details).toMatch(/message 2 of the stream/);
      const { session } = await client.getSession({ conversationId: "stream-1" });
      expect([session?.lastSeq, session?.conversationHistory.map((i) => i.text)]).toEqual([2n, ["turn 1", "turn 2"]]);
    });

    it("StreamUpdateBatches: acks the batches before a bad one, refuses that one whole, and names the message and the update", async () => {
      const result = await raw.stream("StreamUpdateBatches", [
        concatFields(1, [update("stream-2", 1), update("stream-2", 2)]),
        concatFields(1, [update("stream-2", 3), TRUNCATED]),
        concatFields(1, [update("stream-2", 4)]),
      ]);
      const acks = result.responses.flatMap((r) => fromBinary(StreamUpdateBatchesResponseSchema, r).acks);
      expect(acks.map((a) => [a.seq, a.applied])).toEqual([
        [1n, true],
        [2n, true],
      ]);
      expect(expectMalformed(result)).toEqual({ message_type: SessionUpdateSchema.typeName, frame_index: "1", update_index: "1" });
      expect(result.details).toMatch(/message 1 of the stream.*update 1/);
      const { session } = await client.getSession({ conversationId: "stream-2" });
      expect(session?.lastSeq).toBe(2n);
    });

    it("StreamUpdateBatches: a message that is not even a list of updates ends the stream the same way", async () => {
      const result = await raw.stream("StreamUpdateBatches", [ILLEGAL_WIRE_TYPE]);
      expect(expectMalformed(result)).toEqual({ message_type: "sessionstore.v1.StreamUpdateBatchesRequest", frame_index: "0" });
    });
  });

  describe("over --max-message-bytes", () => {
    const big = () => toBinary(CreateSessionRequestSchema, create(CreateSessionRequestSchema, { session: { conversationId: "big-1", lastError: "x".repeat(MAX_MESSAGE_BYTES + 1) } }));

    it("a unary request gets RESOURCE_EXHAUSTED with ErrorInfo MESSAGE_TOO_LARGE naming the limit", async () => {
      const result = await raw.unary("CreateSession", big());
      expect({ code: result.code, reason: result.errorDetails.errorInfo?.reason }).toEqual({ code: status.RESOURCE_EXHAUSTED, reason: "MESSAGE_TOO_LARGE" });
      expect(result.errorDetails.errorInfo?.metadata).toEqual({ max_message_bytes: String(MAX_MESSAGE_BYTES) });
      expect(result.details).toContain(String(MAX_MESSAGE_BYTES));
      await expect(client.getSession({ conversationId: "big-1" })).rejects.toMatchObject({ code: status.NOT_FOUND });
    });

    it("a message on an update stream gets the same", async () => {
      const result = await raw.stream("StreamUpdates", [toBinary(SessionUpdateSchema, create(SessionUpdateSchema, { conversationId: "big-1", appendAudio: [{ data: new Uint8Array(MAX_MESSAGE_BYTES + 1) }] }))]);
      expect({ code: result.code, reason: result.errorDetails.errorInfo?.reason }).toEqual({ code: status.RESOURCE_EXHAUSTED, reason: "MESSAGE_TOO_LARGE" });
    });
  });

  describe("unknown fields", () => {
    const unknown = lengthDelimited(900, new Uint8Array(100_000).fill(0x41));

    async function expectStoredWithout(conversationId: string): Promise<Session> {
      const { session } = await client.getSession({ conversationId });
      expect(hasUnknownFields(session)).toBe(false);
      expect(toBinary(SessionSchema, session!).length).toBeLessThan(2_000);
      return session!;
    }

    /** A SessionUpdate appending one history item, with 100 KB of unknown fields in the update and in the item. */
    const updateWithUnknown = (conversationId: string, seq: number) =>
      concatBytes(
        toBinary(SessionUpdateSchema, create(SessionUpdateSchema, { conversationId, seq: BigInt(seq) })),
        lengthDelimited(SessionUpdateSchema.field.appendHistory.number, concatBytes(toBinary(ConversationItemSchema, create(ConversationItemSchema, { itemId: `u${seq}` })), unknown)),
        unknown,
      );

    it("CreateSession: unknown fields inside the session are not stored", async () => {
      const session = concatBytes(toBinary(SessionSchema, create(SessionSchema, { conversationId: "unknown-1", caller: "bob" })), unknown);
      const result = await raw.unary("CreateSession", lengthDelimited(CreateSessionRequestSchema.field.session.number, session));
      expect(result.code).toBe(status.OK);
      expect(result.response!.length).toBeLessThan(2_000);
      expect((await expectStoredWithout("unknown-1")).caller).toBe("bob");
    });

    it("UpdateSession: unknown fields in the update and in an appended item are not stored", async () => {
      const result = await raw.unary("UpdateSession", concatBytes(lengthDelimited(UpdateSessionRequestSchema.field.update.number, updateWithUnknown("unknown-1", 1)), unknown));
      expect(result.code).toBe(status.OK);
      expect((await expectStoredWithout("unknown-1")).conversationHistory.map((i) => i.itemId)).toEqual(["u1"]);
    });

    it("StreamUpdates and StreamUpdateBatches: the update's bytes as received are not stored with their unknown fields", async () => {
      const single = await raw.stream("StreamUpdates", [updateWithUnknown("unknown-1", 2)]);
      expect(single.code).toBe(status.OK);
      const batches = await raw.stream("StreamUpdateBatches", [concatFields(1, [updateWithUnknown("unknown-1", 3), updateWithUnknown("unknown-1", 4)])]);
      expect(batches.code).toBe(status.OK);
      const session = await expectStoredWithout("unknown-1");
      expect(session.conversationHistory.map((i) => i.itemId)).toEqual(["u1", "u2", "u3", "u4"]);
    });
  });
});
