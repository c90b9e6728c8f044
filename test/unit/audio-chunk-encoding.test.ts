import { create, toBinary } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { type AudioChunk, AudioChunkSchema } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { audioChunkSize, writeAudioChunk } from "../../src/store/redis/audio-chunk-encoding.js";

const at = (seconds: bigint, nanos: number) => create(TimestampSchema, { seconds, nanos });

// Every field at its default and not, the int64 edges, and a Timestamp's.
const chunks: AudioChunk[] = [
  create(AudioChunkSchema, {}),
  create(AudioChunkSchema, { data: new Uint8Array(3200).fill(7), seq: 1n, createdAt: at(1_764_806_400n, 123_000_000) }),
  create(AudioChunkSchema, { data: new Uint8Array([1]), seq: 127n, createdAt: at(0n, 0) }),
  create(AudioChunkSchema, { data: new Uint8Array(128), seq: 128n, createdAt: at(1n, 0) }),
  create(AudioChunkSchema, { seq: 0xffff_ffffn, createdAt: at(0n, 999_999_999) }),
  create(AudioChunkSchema, { seq: 0x1_0000_0000n, createdAt: at(-62_135_596_800n, 0) }),
  create(AudioChunkSchema, { seq: (1n << 63n) - 1n, createdAt: at(253_402_300_799n, -1) }),
  create(AudioChunkSchema, { data: new Uint8Array(70_000).fill(255), seq: -1n }),
];

describe("audio chunk encoding", () => {
  it("writes each chunk exactly as protobuf-es does, at the offset given, in the size it reports", () => {
    for (const chunk of chunks) {
      const expected = Buffer.from(toBinary(AudioChunkSchema, chunk));
      expect(audioChunkSize(chunk), `seq ${chunk.seq}`).toBe(expected.length);
      const out = Buffer.alloc(expected.length + 8, 0xaa);
      expect(writeAudioChunk(out, 5, chunk)).toBe(5 + expected.length);
      expect(out.subarray(5, 5 + expected.length).toString("hex"), `seq ${chunk.seq}`).toBe(expected.toString("hex"));
      // Nothing written around it.
      expect([...out.subarray(0, 5), ...out.subarray(5 + expected.length)].every((b) => b === 0xaa)).toBe(true);
    }
  });
});
