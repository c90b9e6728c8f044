import { describe, expect, it } from "vitest";
import { PackedArgs } from "../../src/store/redis/packed-args.js";

/** The fields of a packed argument again, as the commit script reads them: a 4-byte big-endian length, then the bytes. */
function unpack(packed: Buffer): Buffer[] {
  const fields: Buffer[] = [];
  for (let at = 0; at < packed.length; ) {
    const length = packed.readUInt32BE(at);
    fields.push(packed.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return fields;
}

describe("PackedArgs", () => {
  it("packs strings (as UTF-8, short ASCII or not, long or not), numbers, bytes and encoded fields each behind its length", () => {
    const packed = new PackedArgs()
      .string("")
      .string("ünïcode ☎")
      .string("ascii first, then ☎")
      .string("a string of plain ASCII longer than thirty-two characters")
      .number(42n)
      .bytes(Uint8Array.of(1, 2, 3))
      .encoded(2, (out, at) => out.writeUInt16BE(0xbeef, at))
      .done();
    expect(unpack(packed).map((f) => f.toString("hex"))).toEqual(["", ...["ünïcode ☎", "ascii first, then ☎", "a string of plain ASCII longer than thirty-two characters"].map((t) => Buffer.from(t).toString("hex")), Buffer.from("42").toString("hex"), "010203", "beef"]);
  });

  // Each commit is a view of a shared slab: a later one, or one that needs a fresh slab, must not overwrite an earlier one still held.
  it("keeps every commit it handed out intact while later ones fill the slab and go past it", () => {
    const held: { packed: Buffer; fields: string[] }[] = [];
    for (let i = 0; i < 200; i++) {
      // From a few bytes to well past a slab (128 KiB), so that slabs fill, and a commit moves to a fresh one midway.
      const big = i % 50 === 49 ? "x".repeat(300_000) : `chunk-${i}-`.repeat(1 + (i % 97) * 20);
      const fields = [`commit-${i}`, big, String(i)];
      const out = new PackedArgs();
      for (const f of fields) out.string(f);
      held.push({ packed: out.done(), fields });
    }
    for (const { packed, fields } of held) expect(unpack(packed).map((f) => f.toString())).toEqual(fields);
  });
});
