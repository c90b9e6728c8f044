import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

/**
 * A repeated message field on the wire is each element's encoded bytes behind
 * the field's tag and the length: so a message whose only field is repeated
 * (StreamUpdateBatchesRequest) can be put together from elements encoded once
 * beforehand, and taken apart into each element's own bytes. Both are done
 * here in one pass and one copy, which is what a bridge sending thousands of
 * updates a second, and a sidecar handing them on to its writer thread, spend
 * per update instead of encoding or cloning them again.
 */

/** The elements, each as field `field` (length-delimited), in one buffer. */
export function concatFields(field: number, elements: readonly Uint8Array[]): Uint8Array {
  const tag = fieldTag(field, WireType.LengthDelimited);
  let size = 0;
  for (const element of elements) size += varintSize(tag) + varintSize(element.length) + element.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const element of elements) {
    at = writeVarint(out, at, tag);
    at = writeVarint(out, at, element.length);
    out.set(element, at);
    at += element.length;
  }
  return out;
}

/** The bytes of every occurrence of length-delimited field `field`, in order, as views of `message`; other fields are skipped. */
export function splitFields(message: Uint8Array, field: number): Uint8Array[] {
  const reader = new BinaryReader(message);
  const elements: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [number, wireType] = reader.tag();
    if (number === field && wireType === WireType.LengthDelimited) elements.push(reader.bytes());
    else reader.skip(wireType, number);
  }
  return elements;
}

/** The message without any occurrence of the given fields: a copy of the other fields' bytes, in order, none of them decoded. */
export function withoutFields(message: Uint8Array, fields: ReadonlySet<number>): Uint8Array {
  const reader = new BinaryReader(message);
  const kept: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const [number, wireType] = reader.tag();
    reader.skip(wireType, number);
    if (!fields.has(number)) kept.push(message.subarray(start, reader.pos));
  }
  return concatBytes(...kept);
}

/** The parts one after the other, in one new buffer. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((size, part) => size + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A field's tag: its number and wire type, as the varint before its value. */
export function fieldTag(field: number, wireType: WireType): number {
  return (field << 3) | wireType;
}

/** Bytes of `value` (below 2^32) as a varint. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value >>>= 7;
    size += 1;
  }
  return size;
}

/** Writes `value` (below 2^32) as a varint at `at`; returns the position after it. */
export function writeVarint(out: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[at++] = value;
  return at;
}

/** Bytes of an unsigned 64-bit varint (an int64 is its two's complement: BigInt.asUintN(64, v)). */
export function uint64Size(value: bigint): number {
  if (value < 0x1_0000_0000n) return varintSize(Number(value));
  let size = 1;
  while (value >= 0x80n) {
    value >>= 7n;
    size += 1;
  }
  return size;
}

/** Writes an unsigned 64-bit varint at `at`; returns the position after it. */
export function writeUint64(out: Uint8Array, at: number, value: bigint): number {
  if (value < 0x1_0000_0000n) return writeVarint(out, at, Number(value));
  while (value >= 0x80n) {
    out[at++] = Number(value & 0x7fn) | 0x80;
    value >>= 7n;
  }
  out[at++] = Number(value);
  return at;
}
