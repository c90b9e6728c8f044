import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { StreamUpdateBatchesResponseSchema, type UpdateAck, UpdateAckSchema } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { encodedAck, encodedAckBatch } from "../../src/grpc/ack-encoding.js";
import { rpcStatusOf } from "../../src/server/error-status.js";
import { overloaded, Reason, SessionError } from "../../src/session/errors.js";

function ack(fields: Partial<Omit<UpdateAck, "$typeName">>): UpdateAck {
  return { $typeName: "sessionstore.v1.UpdateAck", conversationId: "", seq: 0n, etag: "", applied: false, error: undefined, ...fields };
}

// Every field at its default and not, the int64 edges, multi-byte text, and refusals with their details.
const acks: UpdateAck[] = [
  ack({}),
  ack({ conversationId: "call-1", seq: 1n, etag: "k", applied: true }),
  ack({ conversationId: "call-1", seq: 127n, etag: "a", applied: false }),
  ack({ conversationId: "c", seq: 128n }),
  ack({ conversationId: "c", seq: 0xffff_ffffn }),
  ack({ conversationId: "c", seq: 0x1_0000_0000n }),
  ack({ conversationId: "c", seq: (1n << 63n) - 1n }),
  ack({ conversationId: "c", seq: -1n }),
  ack({ conversationId: "anruf-größe-☎-通話", etag: "é" }),
  ack({ conversationId: "x".repeat(300), etag: "y".repeat(20_000), applied: true }),
  ack({ conversationId: "call-2", seq: 9n, error: rpcStatusOf(overloaded(500, 200)) }),
  ack({
    conversationId: "call-3",
    seq: 12n,
    error: rpcStatusOf(new SessionError(Reason.SessionFenced, "owner epoch 3 was replaced by 4", { metadata: { conversation_id: "call-3", owner_epoch: "3" } })),
  }),
];

describe("ack encoding", () => {
  it("writes each ack exactly as protobuf-es does", () => {
    for (const a of acks) {
      expect(Buffer.from(encodedAck(a).bytes).toString("hex"), a.conversationId).toBe(Buffer.from(toBinary(UpdateAckSchema, a)).toString("hex"));
    }
  });

  it("writes a batch exactly as protobuf-es does, and it decodes to the same acks", () => {
    const batch = encodedAckBatch(acks).bytes;
    expect(Buffer.from(batch).equals(Buffer.from(toBinary(StreamUpdateBatchesResponseSchema, { $typeName: "sessionstore.v1.StreamUpdateBatchesResponse", acks })))).toBe(true);
    expect(fromBinary(StreamUpdateBatchesResponseSchema, Uint8Array.from(batch)).acks).toEqual(acks.map((a) => fromBinary(UpdateAckSchema, toBinary(UpdateAckSchema, a))));
  });

  it("writes an empty batch as an empty message", () => {
    expect(encodedAckBatch([]).bytes.length).toBe(0);
  });
});
