/**
 * What a session header costs to encode after an update without an
 * update_mask (an audio append, a history item): protobuf-es's toBinary of
 * the whole header against src/session/encoded-header.ts, which encodes the
 * header from its run. Two headers: a bench call's (no metadata) and one with
 * a small metadata Struct, as a bridge keeps the platform's call details.
 * ROUNDS updates per round, the two ways alternating, three rounds; prints µs
 * per header, medians, and the ratio.
 *
 * Run: npm run bench:header-encoding. Env: ROUNDS (default 20000).
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { type Session, SessionSchema, SessionStatus } from "../src/gen/sessionstore/v1/session_store_pb.js";
import { encodedHeader, movedOnly } from "../src/session/encoded-header.js";
import { etagOf } from "../src/session/record.js";
import { timestampAt } from "../src/session/timestamp-at.js";
import { machineFacts, median } from "./support/measure.js";

const ROUNDS = Number(process.env.ROUNDS ?? 20_000);

const plain = create(SessionSchema, {
  conversationId: "call-123-7f3a9c",
  bridgeType: "audiocodes",
  ownerId: "bench",
  ownerEpoch: 1n,
  status: SessionStatus.ACTIVE,
  createdAt: timestampAt(new Date()),
  mediaFormat: "raw/lpcm16",
});
const withMetadata = create(SessionSchema, {
  ...plain,
  metadata: {
    fields: {
      caller: { kind: { case: "stringValue", value: "+15551234567" } },
      callee: { kind: { case: "stringValue", value: "+15557654321" } },
      language: { kind: { case: "stringValue", value: "en-US" } },
      vip: { kind: { case: "boolValue", value: true } },
    },
  },
});

/** The header an append leaves: only the moving fields change, as update.ts does it. */
function appended(header: Session, i: number): Session {
  return { ...header, lastSeq: BigInt(i), etag: etagOf(1000 + i), lastActivity: timestampAt(new Date(1_764_672_000_000 + i * 100)) };
}

const ways: Record<string, (start: Session) => number> = {
  toBinary: (start) => {
    let bytes = 0;
    for (let i = 1, h = start; i <= ROUNDS; i++) bytes += toBinary(SessionSchema, (h = appended(h, i))).length;
    return bytes;
  },
  encodedHeader: (start) => {
    let bytes = 0;
    for (let i = 1, h = start; i <= ROUNDS; i++) {
      const next = appended(h, i);
      movedOnly(next, h);
      bytes += encodedHeader((h = next)).length;
    }
    return bytes;
  },
};

/** µs per header over ROUNDS appends. */
function run(encode: (start: Session) => number, start: Session): number {
  const began = performance.now();
  if (encode(start) === 0) throw new Error("nothing encoded");
  return ((performance.now() - began) * 1000) / ROUNDS;
}

console.log(`Command: \`ROUNDS=${ROUNDS} npm run bench:header-encoding\`\n\n${machineFacts()}\n`);
console.log("| header | toBinary µs (runs) | encodedHeader µs (runs) | ratio |\n|---|---:|---:|---:|");
for (const [name, start] of [["no metadata", plain], ["metadata Struct of 4 fields", withMetadata]] as const) {
  for (const encode of Object.values(ways)) run(encode, start); // warm-up
  const samples = new Map<string, number[]>(Object.keys(ways).map((way) => [way, []]));
  for (let round = 0; round < 3; round++) for (const [way, encode] of Object.entries(ways)) samples.get(way)!.push(run(encode, start));
  const cell = (way: string) => `${median(samples.get(way)!).toFixed(2)} (${samples.get(way)!.map((r) => r.toFixed(2)).join(" / ")})`;
  console.log(`| ${name} | ${cell("toBinary")} | ${cell("encodedHeader")} | ${(median(samples.get("encodedHeader")!) / median(samples.get("toBinary")!)).toFixed(3)} |`);
}
