import { type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type AudioChunk,
  AudioChunkSchema,
  type ConversationItem,
  ConversationItemSchema,
  type FunctionCall,
  FunctionCallSchema,
  type Session,
} from "../../gen/sessionstore/v1/session_store_pb.js";
import type { StoredPart } from "../../session/errors.js";
import type { StoredItem } from "../../session/history-edit.js";
import { encodedHeader } from "../../session/encoded-header.js";
import { lastActivityMs, type SessionRecord } from "../../session/record.js";
import { decodeStored, decodeStoredHeader, storedCount } from "../stored-records.js";
import { audioChunkSize, writeAudioChunk } from "./audio-chunk-encoding.js";
import { HeaderField } from "./keys.js";
import { PackedArgs } from "./packed-args.js";

/**
 * Conversion between Redis values and protobuf messages. Like the SQLite
 * backend, messages are stored as protobuf binary, so a field added to the
 * proto needs no migration; only what scans filter or count on is copied into
 * plain header fields beside it.
 */

/** A session's header as stored: the record the rules work on, and its live token. */
export interface StoredHeader {
  record: SessionRecord;
  /** Its member in the live zset; "" once ended. */
  liveToken: string;
}

/** Everything one commit writes, already decided by the rules. */
export interface CommitPlan {
  /** The version the decision was made on; undefined when the session must not exist yet. */
  expectedVersion: number | undefined;
  /** Random per commit: lets a resent commit be recognised as applied. */
  commitId: string;
  /** Wipe what is stored first (a session created over an expired one). */
  replace: boolean;
  header: StoredHeader;
  history: readonly ConversationItem[];
  /** Upserts by call_id, in order; the first created_at of a call is kept by the script. */
  calls: readonly FunctionCall[];
  audio: readonly AudioChunk[];
  /** Oldest chunks to drop once `audio` is appended. */
  dropAudio: number;
  /** Stored items to overwrite in place; ref is the item's index in the history list. */
  historyEdits?: readonly StoredItem[];
}

/**
 * The commit script's packed argument for a plan (see scripts.ts for its
 * fields), the audio written straight into it.
 */
export function packedCommit(plan: CommitPlan): Buffer {
  const encoded = encodedHeader(plan.header.record.session);
  const edits = plan.historyEdits ?? [];
  const out = new PackedArgs();
  out.string(plan.expectedVersion === undefined ? "" : String(plan.expectedVersion)).string(plan.commitId).string(plan.replace ? "1" : "0");
  out.number(2 * headerFields.length);
  for (const [field, value] of headerFields) {
    const v = value(plan, encoded);
    out.string(field);
    if (typeof v === "string") out.string(v);
    else out.bytes(v);
  }
  out.number(plan.history.length);
  for (const item of plan.history) out.bytes(toBinary(ConversationItemSchema, item));
  out.number(plan.calls.length);
  for (const call of plan.calls) out.string(call.callId).number(millisOf(call)).bytes(toBinary(FunctionCallSchema, call));
  out.number(plan.audio.length);
  for (const chunk of plan.audio) out.encoded(audioChunkSize(chunk), (buffer, at) => writeAudioChunk(buffer, at, chunk));
  for (const chunk of plan.audio) out.number(chunk.data.length);
  out.number(plan.dropAudio);
  out.number(plan.history.length);
  for (const item of plan.history) out.string(item.itemId);
  out.number(edits.length);
  for (const { ref, item } of edits) out.number(ref).bytes(toBinary(ConversationItemSchema, item));
  return out.done();
}

/** The header hash's fields a commit writes, and each one's value (`encoded`: the session as encodedHeader gave it). */
const headerFields: readonly (readonly [field: string, value: (plan: CommitPlan, encoded: Uint8Array) => string | Uint8Array])[] = [
  [HeaderField.session, (_, encoded) => encoded],
  [HeaderField.version, ({ header }) => String(header.record.version)],
  [HeaderField.audioSeq, ({ header }) => String(header.record.audioLastSeq)],
  [HeaderField.audioBytes, ({ header }) => String(header.record.audioBytes)],
  [HeaderField.status, ({ header }) => String(header.record.session.status)],
  [HeaderField.lastActivity, ({ header }) => String(lastActivityMs(header.record.session))],
  [HeaderField.resumedCount, ({ header }) => String(header.record.session.resumedCount)],
  [HeaderField.liveToken, ({ header }) => header.liveToken],
  [HeaderField.commit, ({ commitId }) => commitId],
];

/** A flat [field, value, …] reply (HGETALL inside a script) as a map. */
export function hashOf(flat: readonly Buffer[]): Map<string, Buffer> {
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!.toString(), flat[i + 1]!);
  return fields;
}

/**
 * The header of `conversationId` from its hash; undefined when the session
 * does not exist, DATA_CORRUPTED when what is stored cannot be its header.
 */
export function headerFromHash(fields: ReadonlyMap<string, Buffer>, conversationId: string): StoredHeader | undefined {
  const binary = fields.get(HeaderField.session);
  if (binary === undefined) return undefined;
  const text = (name: string) => fields.get(name)?.toString() ?? "";
  const count = (name: string, fallback: string) => storedCount(Number(text(name) || fallback), conversationId, name);
  return {
    record: {
      session: decodeStoredHeader(new Uint8Array(binary), conversationId, Number(text(HeaderField.status))),
      version: count(HeaderField.version, ""),
      audioLastSeq: BigInt(count(HeaderField.audioSeq, "0")),
      audioBytes: count(HeaderField.audioBytes, "0"),
    },
    liveToken: text(HeaderField.liveToken),
  };
}

/** A readItems reply for `itemIds`, as planUpdates takes it: the found ones, decoded. */
export function storedItemsOf(reply: readonly ([Buffer, Buffer] | null)[], itemIds: readonly string[], conversationId: string): Map<string, StoredItem> {
  const found = new Map<string, StoredItem>();
  reply.forEach((entry, i) => {
    // An index past the list's end cannot be written by this store: the item counts as absent rather than fail the group.
    if (entry && entry[1]) found.set(itemIds[i]!, { ref: storedCount(Number(entry[0].toString()), conversationId, "history index"), item: decode(ConversationItemSchema, entry[1], conversationId, "history") });
  });
  return found;
}

/** The children of a readFull reply, each in stored order, set on `session`. */
export function withChildren(session: Session, history: readonly Buffer[], callOrder: readonly Buffer[], calls: readonly Buffer[], audio: readonly Buffer[]): Session {
  const id = session.conversationId;
  session.conversationHistory = history.map((item) => decode(ConversationItemSchema, item, id, "history"));
  const callFields = hashOf(calls);
  session.functionCalls = callOrder.map((idBuffer) => {
    const callId = idBuffer.toString();
    const call = decode(FunctionCallSchema, callFields.get(`b:${callId}`) ?? Buffer.alloc(0), id, "function_call");
    // The first upsert's time, which later upserts of the same call keep.
    call.createdAt = timestampFromDate(new Date(Number(callFields.get(`t:${callId}`)?.toString() ?? "0")));
    return call;
  });
  session.audioBuffer = audio.map((chunk) => decode(AudioChunkSchema, chunk, id, "audio"));
  return session;
}

// A copy into a plain Uint8Array: messages must not keep Node's Buffer
// prototype (it breaks equality with messages from other backends) or share
// memory with the client's reply buffers.
function decode<Desc extends DescMessage>(schema: Desc, bytes: Buffer, conversationId: string, part: StoredPart): MessageShape<Desc> {
  return decodeStored(schema, new Uint8Array(bytes), conversationId, part);
}

function millisOf(call: FunctionCall): number {
  return call.createdAt ? timestampDate(call.createdAt).getTime() : 0;
}
