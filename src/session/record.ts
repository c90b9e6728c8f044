import { clone } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { timestampAt } from "./timestamp-at.js";
import {
  type AudioChunk,
  type ConversationItem,
  type FunctionCall,
  type Session,
  SessionSchema,
  SessionStatus,
} from "../gen/sessionstore/v1/session_store_pb.js";
import type { SessionRules } from "./rules.js";

/**
 * A session as a store keeps it: the header (every scalar field of Session,
 * with the repeated children left empty because they live in their own rows)
 * plus the bookkeeping that makes writes O(1) in the size of the session.
 *
 * Records are values: the functions of src/session never change one, they
 * return a new one. A new record shares the unchanged field objects of the old
 * (timestamps, Structs), which nothing ever changes in place either.
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
  /** Upserts by call_id, in order: a store keeps the first position and created_at of a call. */
  functionCalls: FunctionCall[];
  audio: AudioChunk[];
}

export function etagOf(version: number): string {
  return version.toString(36);
}

/**
 * The record after a write: the next version and etag, last activity now.
 * `session` is the copy the caller made of the header for this write (each
 * one spreads it with its changes) and owns until here: it is stamped as it
 * is rather than copied once more, one copy of ~35 fields an update fewer.
 */
export function touched(record: SessionRecord, session: Session, now: Date): SessionRecord {
  const version = record.version + 1;
  session.etag = etagOf(version);
  session.lastActivity = timestampAt(now);
  return { ...record, version, session };
}

export function lastActivityMs(session: Session): number {
  return session.lastActivity ? timestampDate(session.lastActivity).getTime() : 0;
}

/** Sessions last active before this instant are expired: isExpired as a bound a query can use. */
export function expiryCutoffMs(now: Date, rules: SessionRules): number {
  return now.getTime() - rules.maxSessionAgeMs;
}

/** Expired sessions are invisible to reads and removed by cleanup. */
export function isExpired(session: Session, now: Date, rules: SessionRules): boolean {
  return lastActivityMs(session) < expiryCutoffMs(now, rules);
}

/** Live sessions count against max_sessions. */
export function isLive(session: Session, now: Date, rules: SessionRules): boolean {
  return session.status !== SessionStatus.ENDED && !isExpired(session, now, rules);
}

/**
 * The header as a record keeps it: a copy with the same fields. protobuf-es
 * builds messages property by property, which leaves V8 holding them as
 * dictionaries, and every copy made from one (each write makes a few) costs
 * microseconds; a copy made by spreading is an ordinary object, and the
 * copies made from it cost next to nothing. Stores pass what they decode
 * through here once.
 */
export function fastHeader(session: Session): Session {
  return { ...session };
}

/** A deep copy of the header fields only. */
export function headerOf(session: Session): Session {
  // Leave the children out before copying, so a BASIC read costs the same for any session size.
  return fastHeader(clone(SessionSchema, { ...session, conversationHistory: [], functionCalls: [], audioBuffer: [] }));
}

/** The FULL session: a header with its children, in stored order. */
export function withChildren(header: Session, children: SessionChildren): Session {
  return { ...header, conversationHistory: children.history, functionCalls: children.functionCalls, audioBuffer: children.audio };
}

/** The BASIC session: the header alone, sharing its fields. */
export function withoutChildren(session: Session): Session {
  // A header already has none: it is shared rather than copied, as records are values (and its encoding, encodedHeader, goes with it).
  if (session.conversationHistory.length === 0 && session.functionCalls.length === 0 && session.audioBuffer.length === 0) return session;
  return { ...session, conversationHistory: [], functionCalls: [], audioBuffer: [] };
}

export function randomInitialVersion(): number {
  // 2^40 keeps etags short while making a repeat across incarnations negligible.
  return 1 + Math.floor(Math.random() * 2 ** 40);
}
