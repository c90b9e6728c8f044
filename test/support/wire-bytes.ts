import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { concatBytes } from "../../src/grpc/length-delimited.js";

/**
 * Protobuf bytes put together by hand, for requests no encoder would write:
 * fields this version does not define, nesting deeper than any encoder's
 * stack would survive.
 */

/** Field `field` as a length-delimited field holding `payload`. */
export function lengthDelimited(field: number, payload: Uint8Array): Uint8Array {
  return new BinaryWriter().tag(field, WireType.LengthDelimited).bytes(payload).finish();
}


/**
 * A google.protobuf.Struct holding `{"a": {"a": … {"a": null-ish Value}}}`,
 * `depth` Structs deep, built from the inside out by lengths alone, so that
 * even a million levels cost no recursion here.
 */
export function nestedStructBytes(depth: number): Uint8Array {
  // Innermost: an empty Value. Each level wraps the Value below as
  // Value{struct_value(5): Struct{fields(1): entry{key(1) "a", value(2): inner}}}.
  const prefixes: Uint8Array[] = [];
  let inner = 0;
  for (let level = 0; level < depth; level++) {
    const entryHead = [0x0a, 0x01, 0x61, 0x12, ...varint(inner)];
    const entry = entryHead.length + inner;
    const structHead = [0x0a, ...varint(entry)];
    const struct = structHead.length + entry;
    // The outermost level is the Struct itself, not a Value holding it.
    const valueHead = level === depth - 1 ? [] : [0x2a, ...varint(struct)];
    prefixes.push(Uint8Array.from([...valueHead, ...structHead, ...entryHead]));
    inner = valueHead.length + struct;
  }
  return concatBytes(...prefixes.reverse());
}

function varint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  out.push(value);
  return out;
}
