import { WireType } from "@bufbuild/protobuf/wire";
import { type Timestamp, TimestampSchema } from "@bufbuild/protobuf/wkt";
import { type AudioChunk, AudioChunkSchema } from "../../gen/sessionstore/v1/session_store_pb.js";
import { fieldTag, uint64Size, varintSize, writeUint64, writeVarint } from "../../grpc/length-delimited.js";

/**
 * An AudioChunk as protobuf binary, written where the caller says: the Redis
 * commit writes each appended chunk straight into its packed argument
 * (PackedArgs) rather than encoding it into a buffer of its own that is
 * then copied into the argument. The bytes are
 * toBinary's (test/unit/audio-chunk-encoding.test.ts holds them equal); the
 * field numbers come from the generated schemas.
 */

const TAG_DATA = fieldTag(AudioChunkSchema.field.data.number, WireType.LengthDelimited);
const TAG_SEQ = fieldTag(AudioChunkSchema.field.seq.number, WireType.Varint);
const TAG_CREATED_AT = fieldTag(AudioChunkSchema.field.createdAt.number, WireType.LengthDelimited);
const TAG_SECONDS = fieldTag(TimestampSchema.field.seconds.number, WireType.Varint);
const TAG_NANOS = fieldTag(TimestampSchema.field.nanos.number, WireType.Varint);

/** Bytes of the chunk's encoding. */
export function audioChunkSize(chunk: AudioChunk): number {
  let size = 0;
  if (chunk.data.length > 0) size += varintSize(TAG_DATA) + varintSize(chunk.data.length) + chunk.data.length;
  if (chunk.seq !== 0n) size += varintSize(TAG_SEQ) + uint64Size(BigInt.asUintN(64, chunk.seq));
  if (chunk.createdAt) {
    const ts = timestampSize(chunk.createdAt);
    size += varintSize(TAG_CREATED_AT) + varintSize(ts) + ts;
  }
  return size;
}

/** Writes the chunk's encoding at `at` (audioChunkSize bytes); returns the position after it. Fields in number order, defaults left out, as protobuf-es writes them. */
export function writeAudioChunk(out: Uint8Array, at: number, chunk: AudioChunk): number {
  if (chunk.data.length > 0) {
    at = writeVarint(out, at, TAG_DATA);
    at = writeVarint(out, at, chunk.data.length);
    out.set(chunk.data, at);
    at += chunk.data.length;
  }
  if (chunk.seq !== 0n) {
    at = writeVarint(out, at, TAG_SEQ);
    at = writeUint64(out, at, BigInt.asUintN(64, chunk.seq));
  }
  const ts = chunk.createdAt;
  if (ts) {
    at = writeVarint(out, at, TAG_CREATED_AT);
    at = writeVarint(out, at, timestampSize(ts));
    if (ts.seconds !== 0n) {
      at = writeVarint(out, at, TAG_SECONDS);
      at = writeUint64(out, at, BigInt.asUintN(64, ts.seconds));
    }
    if (ts.nanos !== 0) {
      at = writeVarint(out, at, TAG_NANOS);
      at = ts.nanos > 0 ? writeVarint(out, at, ts.nanos) : writeUint64(out, at, negativeInt32(ts.nanos));
    }
  }
  return at;
}

function timestampSize(ts: Timestamp): number {
  let size = 0;
  if (ts.seconds !== 0n) size += varintSize(TAG_SECONDS) + uint64Size(BigInt.asUintN(64, ts.seconds));
  if (ts.nanos !== 0) size += varintSize(TAG_NANOS) + (ts.nanos > 0 ? varintSize(ts.nanos) : uint64Size(negativeInt32(ts.nanos)));
  return size;
}

/** A negative int32 on the wire: sign-extended to 64 bits (nanos is never negative in a valid Timestamp, but the bytes stay toBinary's). */
function negativeInt32(value: number): bigint {
  return BigInt.asUintN(64, BigInt(value));
}
