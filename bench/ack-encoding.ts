/**
 * What an ack costs to encode: a StreamUpdateBatchesResponse of ACKS applied
 * acks (the size of a busy group's answer to one stream), written by
 * protobuf-es's toBinary and by src/grpc/ack-encoding.ts, alternating, three
 * rounds of ROUNDS responses each. Prints µs per ack, medians, and the ratio.
 *
 * Run: npm run bench:ack-encoding. Env: ACKS (default 200), ROUNDS (default 2000).
 */
import { toBinary } from "@bufbuild/protobuf";
import { StreamUpdateBatchesResponseSchema, type UpdateAck } from "../src/gen/sessionstore/v1/session_store_pb.js";
import { encodedAckBatch } from "../src/grpc/ack-encoding.js";
import { machineFacts, median } from "./support/measure.js";

const ACKS = Number(process.env.ACKS ?? 200);
const ROUNDS = Number(process.env.ROUNDS ?? 2000);

const acks: UpdateAck[] = Array.from({ length: ACKS }, (_, i) => ({
  $typeName: "sessionstore.v1.UpdateAck",
  conversationId: `call-${i}-7f3a9c`,
  seq: BigInt(1000 + i),
  etag: (48_000 + i).toString(36),
  applied: true,
  error: undefined,
}));

const ways: Record<string, () => Uint8Array> = {
  toBinary: () => toBinary(StreamUpdateBatchesResponseSchema, { $typeName: "sessionstore.v1.StreamUpdateBatchesResponse", acks }),
  "ack-encoding": () => encodedAckBatch(acks).bytes,
};

/** µs per ack over ROUNDS responses. */
function run(encode: () => Uint8Array): number {
  let bytes = 0;
  const start = performance.now();
  for (let i = 0; i < ROUNDS; i++) bytes += encode().length;
  if (bytes === 0) throw new Error("nothing encoded");
  return ((performance.now() - start) * 1000) / ROUNDS / ACKS;
}

for (const encode of Object.values(ways)) run(encode); // warm-up
const samples = new Map<string, number[]>(Object.keys(ways).map((name) => [name, []]));
for (let round = 0; round < 3; round++) for (const [name, encode] of Object.entries(ways)) samples.get(name)!.push(run(encode));

console.log(`Command: \`ACKS=${ACKS} ROUNDS=${ROUNDS} npm run bench:ack-encoding\`\n\n${machineFacts()}\n`);
console.log("| encoder | µs per ack (median of 3) | runs |\n|---|---:|---|");
for (const [name, runs] of samples) console.log(`| ${name} | ${median(runs).toFixed(2)} | ${runs.map((r) => r.toFixed(2)).join(" / ")} |`);
console.log(`\nack-encoding ÷ toBinary: ${(median(samples.get("ack-encoding")!) / median(samples.get("toBinary")!)).toFixed(3)}`);
