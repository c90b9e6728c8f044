import type { AudioChunk, ConversationItem, FunctionCall, SessionUpdate } from "../../gen/sessionstore/v1/session_store_pb.js";
import { clone } from "@bufbuild/protobuf";
import { SessionSchema } from "../../gen/sessionstore/v1/session_store_pb.js";
import { type SessionRecord, trimAudio } from "../../session/record.js";
import type { SessionRules } from "../../session/rules.js";
import { applyUpdate } from "../../session/update.js";
import type { UpdateResult } from "../store.js";
import type { CommitPlan, StoredHeader } from "./codec.js";

/**
 * Thrown when trimming the audio ring needs the sizes of more stored chunks
 * than were read with the header; the caller reads them all and starts over.
 */
export class NeedAudioSizes extends Error {
  constructor() {
    super("the sizes of more stored audio chunks are needed");
    this.name = "NeedAudioSizes";
  }
}

/**
 * The updates of one session within one group, applied in memory by the
 * rules of src/session on top of the header as read, and gathered into one
 * commit. Each update is tried on a copy of the record and kept only when
 * every check passes, so a refused update leaves the draft as it was and the
 * next update of the session sees exactly what the ones before it did.
 *
 * The ring is trimmed without reading any audio: the sizes of the oldest
 * stored chunks come with the header (as many as the caller guessed it would
 * need; see NeedAudioSizes), the sizes of the chunks added here are known.
 */
export class UpdateDraft {
  private header: StoredHeader;
  private readonly history: ConversationItem[] = [];
  private readonly calls: FunctionCall[] = [];
  /** Chunks appended by the applied updates, oldest first. */
  private readonly audio: AudioChunk[] = [];
  /** Oldest chunks dropped so far, counted over the stored ring followed by `audio`. */
  private dropped = 0;
  private applied = false;

  /**
   * @param base the header as read; its version is what the commit expects
   * @param storedSizes sizes of the oldest stored chunks, oldest first (a prefix of the ring, or all of it)
   * @param storedCount how many chunks the stored ring holds
   */
  constructor(
    readonly base: StoredHeader,
    private readonly storedSizes: readonly number[],
    private readonly storedCount: number,
  ) {
    this.header = base;
  }

  /** True once an update has been applied, so there is something to commit. */
  get changed(): boolean {
    return this.applied;
  }

  /** Applies one update; throws its SessionError (changing nothing) when refused. */
  apply(update: SessionUpdate, now: Date, rules: SessionRules): UpdateResult {
    const record = copyRecord(this.header.record);
    const outcome = applyUpdate(record, update, now, rules);
    if (!outcome.applied) return { session: record.session, applied: false };
    const drop = trimAudio(record, this.sizesFrom(this.dropped, outcome.children.audio), rules);
    // Every check has passed: from here on the update is part of the draft.
    this.header = { record, liveToken: this.header.liveToken };
    for (const item of outcome.children.history) this.history.push(item);
    for (const call of outcome.children.functionCalls) this.calls.push(call);
    for (const chunk of outcome.children.audio) this.audio.push(chunk);
    this.dropped += drop;
    this.applied = true;
    return { session: clone(SessionSchema, record.session), applied: true };
  }

  /** The writes of every applied update, as one commit on top of the base version. */
  plan(commitId: string): CommitPlan {
    // Chunks added and dropped within this draft are never sent at all.
    const skipAdded = Math.max(0, this.dropped - this.storedCount);
    return {
      expectedVersion: this.base.record.version,
      commitId,
      replace: false,
      header: this.header,
      history: this.history,
      calls: this.calls,
      audio: this.audio.slice(skipAdded),
      dropAudio: this.dropped - skipAdded,
    };
  }

  /** Sizes of the ring from position `start` on: stored chunks, then this draft's, then `added`. */
  private *sizesFrom(start: number, added: readonly AudioChunk[]): Generator<number> {
    for (let i = start; ; i++) {
      if (i < this.storedCount) {
        const size = this.storedSizes[i];
        if (size === undefined) throw new NeedAudioSizes();
        yield size;
        continue;
      }
      const j = i - this.storedCount;
      const chunk = j < this.audio.length ? this.audio[j] : added[j - this.audio.length];
      if (chunk === undefined) return;
      yield chunk.data.length;
    }
  }
}

function copyRecord(record: SessionRecord): SessionRecord {
  return { ...record, session: clone(SessionSchema, record.session) };
}
