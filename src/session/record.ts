import { clone, create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type AudioChunk,
  AudioChunkSchema,
  type ConversationItem,
  ConversationItemSchema,
  type FunctionCall,
  FunctionCallSchema,
  type Session,
  SessionSchema,
  SessionStatus,
  SessionView,
} from "../gen/sessionstore/v1/session_store_pb.js";
import { Reason, SessionError } from "./errors.js";
import type { SessionRules } from "./rules.js";

/**
 * A session as a store keeps it: the header (every scalar field of Session,
 * with the repeated children left empty because they live in their own rows)
 * plus the bookkeeping that makes writes O(1) in the size of the session.
 */
export interface SessionRecord {
  session: Session;
  /** Incremented on every write; the etag is derived from it. */
  version: number;
  /** seq of the newest audio chunk ever appended (0 when none). */
  audioLastSeq: bigint;
  /** Bytes currently held in the audio ring. */
  audioBytes: number;
}

/** The children a new session or an update adds, with server-set fields filled in. */
export interface SessionChildren {
  history: ConversationItem[];
  functionCalls: FunctionCall[];
  audio: AudioChunk[];
}

export function etagOf(version: number): string {
  return version.toString(36);
}

/** Marks a write: new version and etag, last activity now. */
export function touch(record: SessionRecord, now: Date): void {
  record.version += 1;
  record.session.etag = etagOf(record.version);
  record.session.lastActivity = timestampFromDate(now);
}

export function lastActivityMs(session: Session): number {
  return session.lastActivity ? timestampDate(session.lastActivity).getTime() : 0;
}

/** Expired sessions are invisible to reads and removed by cleanup. */
export function isExpired(session: Session, now: Date, rules: SessionRules): boolean {
  return now.getTime() - lastActivityMs(session) > rules.maxSessionAgeMs;
}

/** Live sessions count against max_sessions. */
export function isLive(session: Session, now: Date, rules: SessionRules): boolean {
  return session.status !== SessionStatus.ENDED && !isExpired(session, now, rules);
}

/** A copy of the header fields only. */
export function headerOf(session: Session): Session {
  // Leave the children out before copying, so a BASIC read costs the same for any session size.
  return clone(SessionSchema, { ...session, conversationHistory: [], functionCalls: [], audioBuffer: [] });
}

/** The session as a read with `view` returns it; `fallback` is the RPC's default view. */
export function withView(session: Session, view: SessionView, fallback: SessionView): Session {
  const effective = view === SessionView.UNSPECIFIED ? fallback : view;
  return effective === SessionView.BASIC ? headerOf(session) : session;
}

/** Stamps appended history items with the time they were stored. */
export function stampHistory(items: readonly ConversationItem[], now: Date): ConversationItem[] {
  return items.map((item) => {
    const stored = clone(ConversationItemSchema, item);
    stored.createdAt = timestampFromDate(now);
    return stored;
  });
}

/** Stamps function calls; a store keeps the first created_at when a call is replaced. */
export function stampFunctionCalls(calls: readonly FunctionCall[], now: Date): FunctionCall[] {
  return calls.map((call) => {
    const stored = clone(FunctionCallSchema, call);
    stored.createdAt = timestampFromDate(now);
    return stored;
  });
}

/**
 * Numbers appended audio chunks and adds their size to the ring. Returns the
 * stored chunks; the caller then drops `chunksToDrop` of the oldest.
 */
export function appendAudio(record: SessionRecord, chunks: readonly AudioChunk[], now: Date, rules: SessionRules): AudioChunk[] {
  chunks.forEach((chunk, i) => {
    if (chunk.data.length > rules.audioBufferMaxBytes) {
      throw new SessionError(Reason.InvalidArgument, `an audio chunk of ${chunk.data.length} bytes exceeds the audio buffer of ${rules.audioBufferMaxBytes} bytes`, {
        violations: [{ field: `append_audio[${i}].data`, description: `at most ${rules.audioBufferMaxBytes} bytes` }],
      });
    }
  });
  return chunks.map((chunk) => {
    record.audioLastSeq += 1n;
    record.audioBytes += chunk.data.length;
    // A copy: the caller's buffer may be reused for the next frame.
    return create(AudioChunkSchema, { data: chunk.data.slice(), seq: record.audioLastSeq, createdAt: timestampFromDate(now) });
  });
}

/**
 * How many of the oldest chunks to drop so the ring fits its cap again, given
 * chunk sizes oldest first. Reads only as many sizes as it drops, so trimming
 * costs what is dropped, not what is stored. Updates record.audioBytes.
 */
export function trimAudio(record: SessionRecord, sizesOldestFirst: Iterable<number>, rules: SessionRules): number {
  let drop = 0;
  if (record.audioBytes <= rules.audioBufferMaxBytes) return 0;
  for (const size of sizesOldestFirst) {
    record.audioBytes -= size;
    drop += 1;
    if (record.audioBytes <= rules.audioBufferMaxBytes) break;
  }
  return drop;
}

export interface NewRecordOptions {
  ownerId: string;
  status: SessionStatus;
  now: Date;
  rules: SessionRules;
  /** The first version; random so that a deleted and re-created session never repeats an etag. */
  initialVersion: number;
}

/**
 * Builds a new session from a client's initial values: client-settable fields
 * are copied, server-set ones are set here, and the initial children are
 * stamped like appended ones.
 */
export function newRecord(input: Session, options: NewRecordOptions): { record: SessionRecord; children: SessionChildren } {
  const { now } = options;
  const session = headerOf(input);
  session.status = options.status;
  session.createdAt = timestampFromDate(now);
  session.resumedCount = 0;
  session.endReason = "";
  session.ownerId = options.ownerId;
  session.ownerEpoch = 1n;
  session.lastSeq = 0n;
  const record: SessionRecord = { session, version: options.initialVersion - 1, audioLastSeq: 0n, audioBytes: 0 };
  touch(record, now);
  const audio = appendAudio(record, input.audioBuffer, now, options.rules);
  const dropped = trimAudio(record, audio.map((c) => c.data.length), options.rules);
  return {
    record,
    children: {
      history: stampHistory(input.conversationHistory, now),
      functionCalls: dedupeByCallId(stampFunctionCalls(input.functionCalls, now)),
      audio: audio.slice(dropped),
    },
  };
}

/** Later entries with the same call_id replace earlier ones, keeping the first position. */
export function dedupeByCallId(calls: FunctionCall[]): FunctionCall[] {
  const byId = new Map<string, FunctionCall>();
  for (const call of calls) {
    const first = byId.get(call.callId);
    byId.set(call.callId, first ? { ...call, createdAt: first.createdAt } : call);
  }
  return [...byId.values()];
}

export function randomInitialVersion(): number {
  // 2^40 keeps etags short while making a repeat across incarnations negligible.
  return 1 + Math.floor(Math.random() * 2 ** 40);
}
