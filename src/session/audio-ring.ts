import { create } from "@bufbuild/protobuf";
import { type AudioChunk, AudioChunkSchema } from "../gen/sessionstore/v1/session_store_pb.js";
import { Reason, SessionError } from "./errors.js";
import type { SessionRules } from "./rules.js";
import { timestampAt } from "./timestamp-at.js";

/**
 * The audio ring of a session: appended chunks are numbered 1, 2, … and
 * counted in the ring's bytes; once it holds more than the cap, the oldest
 * chunks drop first. Only the header's two counters (newest seq, bytes held)
 * and the sizes of the chunks about to drop are ever needed, so trimming
 * costs what is dropped, not what is stored.
 */

export interface NumberedAudio {
  chunks: AudioChunk[];
  lastSeq: bigint;
  bytes: number;
}

/**
 * The stored form of appended chunks, numbered after `lastSeq`, with the
 * ring's bytes after appending them. A single chunk larger than the whole
 * ring is INVALID_ARGUMENT.
 */
export function numberAudio(chunks: readonly AudioChunk[], lastSeq: bigint, bytes: number, now: Date, rules: SessionRules): NumberedAudio {
  chunks.forEach((chunk, i) => {
    if (chunk.data.length > rules.audioBufferMaxBytes) {
      throw new SessionError(Reason.InvalidArgument, `an audio chunk of ${chunk.data.length} bytes exceeds the audio buffer of ${rules.audioBufferMaxBytes} bytes`, {
        violations: [{ field: `append_audio[${i}].data`, description: `at most ${rules.audioBufferMaxBytes} bytes` }],
      });
    }
  });
  const createdAt = timestampAt(now);
  let seq = lastSeq;
  let total = bytes;
  const stored = chunks.map((chunk) => {
    seq += 1n;
    total += chunk.data.length;
    // The bytes are the request's, not copied: every store copies them as it writes them.
    return create(AudioChunkSchema, { data: chunk.data, seq, createdAt });
  });
  return { chunks: stored, lastSeq: seq, bytes: total };
}

export interface RingTrim {
  /** Oldest stored chunks to delete. */
  dropStored: number;
  /** Oldest chunks of those being appended that never need storing. */
  dropAdded: number;
  /** Bytes the ring holds afterwards. */
  bytes: number;
}

/**
 * Which chunks to drop so the ring fits its cap again, once chunks of
 * `addedSizes` have been appended to a ring holding `storedSizes` (oldest
 * first) and `bytes` is the total of both. Keeps the longest run of newest
 * chunks that fits, which is also what trimming after every single append
 * would keep, so a store may trim once per group of updates.
 *
 * `storedSizes` is read lazily and only as far as chunks drop, and is left
 * (its iterator closed) as soon as no more are needed: a store may pass a
 * cursor over its rows, or an iterator that throws when it runs past what was
 * read with the header.
 */
export function trimRing(bytes: number, storedSizes: Iterable<number>, addedSizes: readonly number[], rules: SessionRules): RingTrim {
  let total = bytes;
  let dropStored = 0;
  if (total <= rules.audioBufferMaxBytes) return { dropStored, dropAdded: 0, bytes: total };
  for (const size of storedSizes) {
    total -= size;
    dropStored += 1;
    if (total <= rules.audioBufferMaxBytes) return { dropStored, dropAdded: 0, bytes: total };
  }
  let dropAdded = 0;
  while (total > rules.audioBufferMaxBytes && dropAdded < addedSizes.length) total -= addedSizes[dropAdded++]!;
  return { dropStored, dropAdded, bytes: total };
}
