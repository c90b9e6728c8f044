import { toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { type Status, StatusSchema } from "../gen/google/rpc/status_pb.js";
import { StreamUpdateBatchesResponseSchema, type UpdateAck, UpdateAckSchema } from "../gen/sessionstore/v1/session_store_pb.js";
import { EncodedMessage } from "./encoded-message.js";
import { fieldTag as tag, uint64Size, varintSize, writeUint64, writeVarint } from "./length-delimited.js";

/**
 * UpdateAck on the wire, written straight into one buffer per response.
 *
 * A sidecar at capacity sends an ack for every update, thousands a second,
 * and protobuf-es's reflective toBinary spent ~3.2 µs on each (the largest
 * single encode in a profile of the update path); this takes ~0.36 µs for
 * the same bytes (npm run bench:ack-encoding; test/unit/ack-encoding.test.ts
 * checks them against toBinary). Field numbers come from the generated schema, so
 * the proto stays the one place they are written. The error, set only on a
 * refused update, is encoded by protobuf-es, once per Status.
 */

const F = UpdateAckSchema.field;
const TAG_CONVERSATION_ID = tag(F.conversationId.number, WireType.LengthDelimited);
const TAG_SEQ = tag(F.seq.number, WireType.Varint);
const TAG_ETAG = tag(F.etag.number, WireType.LengthDelimited);
const TAG_ERROR = tag(F.error.number, WireType.LengthDelimited);
const TAG_APPLIED = tag(F.applied.number, WireType.Varint);
const TAG_ACKS = tag(StreamUpdateBatchesResponseSchema.field.acks.number, WireType.LengthDelimited);

/** A StreamUpdateBatchesResponse carrying `acks`, in order. */
export function encodedAckBatch(acks: readonly UpdateAck[]): EncodedMessage {
  const parts = acks.map(measure);
  let size = 0;
  for (const part of parts) size += varintSize(TAG_ACKS) + varintSize(part.size) + part.size;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  acks.forEach((ack, i) => {
    const part = parts[i]!;
    at = writeVarint(out, at, TAG_ACKS);
    at = writeVarint(out, at, part.size);
    at = writeAck(out, at, ack, part);
  });
  return new EncodedMessage(out);
}

/** One UpdateAck, as StreamUpdates sends each. */
export function encodedAck(ack: UpdateAck): EncodedMessage {
  const part = measure(ack);
  const out = Buffer.allocUnsafe(part.size);
  writeAck(out, 0, ack, part);
  return new EncodedMessage(out);
}

/** An ack's sizes, worked out before anything is written so the buffer is allocated once. */
interface Measured {
  size: number;
  conversationIdBytes: number;
  etagBytes: number;
  seq: bigint;
  error: Uint8Array | undefined;
}

function measure(ack: UpdateAck): Measured {
  const conversationIdBytes = Buffer.byteLength(ack.conversationId, "utf8");
  const etagBytes = Buffer.byteLength(ack.etag, "utf8");
  // int64 on the wire is its two's complement as an unsigned 64-bit varint.
  const seq = BigInt.asUintN(64, ack.seq);
  const error = ack.error && encodedStatus(ack.error);
  let size = 0;
  if (conversationIdBytes > 0) size += varintSize(TAG_CONVERSATION_ID) + varintSize(conversationIdBytes) + conversationIdBytes;
  if (seq !== 0n) size += varintSize(TAG_SEQ) + uint64Size(seq);
  if (etagBytes > 0) size += varintSize(TAG_ETAG) + varintSize(etagBytes) + etagBytes;
  if (error) size += varintSize(TAG_ERROR) + varintSize(error.length) + error.length;
  if (ack.applied) size += varintSize(TAG_APPLIED) + 1;
  return { size, conversationIdBytes, etagBytes, seq, error };
}

/** Writes the ack's fields in field-number order, as protobuf-es does, skipping those at their default. */
function writeAck(out: Buffer, at: number, ack: UpdateAck, part: Measured): number {
  if (part.conversationIdBytes > 0) {
    at = writeVarint(out, at, TAG_CONVERSATION_ID);
    at = writeVarint(out, at, part.conversationIdBytes);
    at += out.write(ack.conversationId, at, "utf8");
  }
  if (part.seq !== 0n) {
    at = writeVarint(out, at, TAG_SEQ);
    at = writeUint64(out, at, part.seq);
  }
  if (part.etagBytes > 0) {
    at = writeVarint(out, at, TAG_ETAG);
    at = writeVarint(out, at, part.etagBytes);
    at += out.write(ack.etag, at, "utf8");
  }
  if (part.error) {
    at = writeVarint(out, at, TAG_ERROR);
    at = writeVarint(out, at, part.error.length);
    out.set(part.error, at);
    at += part.error.length;
  }
  if (ack.applied) {
    at = writeVarint(out, at, TAG_APPLIED);
    out[at++] = 1;
  }
  return at;
}

/** A refusal's Status, encoded once however many acks carry it (one OVERLOADED Status refuses a whole shed batch). */
const statuses = new WeakMap<Status, Uint8Array>();

function encodedStatus(status: Status): Uint8Array {
  let bytes = statuses.get(status);
  if (bytes === undefined) {
    bytes = toBinary(StatusSchema, status);
    statuses.set(status, bytes);
  }
  return bytes;
}
