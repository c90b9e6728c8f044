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
import { HeaderField } from "./keys.js";

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

type Arg = string | Buffer;

/** The commit script's ARGV for a plan (see scripts.ts for the layout). */
export function commitArgs(plan: CommitPlan): Arg[] {
  const header = headerPairs(plan.header, plan.commitId);
  const args: Arg[] = [plan.expectedVersion === undefined ? "" : String(plan.expectedVersion), plan.commitId, plan.replace ? "1" : "0"];
  args.push(String(header.length), ...header);
  args.push(String(plan.history.length));
  for (const item of plan.history) args.push(encode(toBinary(ConversationItemSchema, item)));
  args.push(String(plan.calls.length));
  for (const call of plan.calls) args.push(call.callId, String(millisOf(call)), encode(toBinary(FunctionCallSchema, call)));
  args.push(String(plan.audio.length));
  for (const chunk of plan.audio) args.push(encode(toBinary(AudioChunkSchema, chunk)));
  for (const chunk of plan.audio) args.push(String(chunk.data.length));
  args.push(String(plan.dropAudio));
  args.push(String(plan.history.length));
  for (const item of plan.history) args.push(item.itemId);
  const edits = plan.historyEdits ?? [];
  args.push(String(edits.length));
  for (const { ref, item } of edits) args.push(String(ref), encode(toBinary(ConversationItemSchema, item)));
  return args;
}

function headerPairs({ record, liveToken }: StoredHeader, commitId: string): Arg[] {
  const s = record.session;
  return [
    HeaderField.session, encode(encodedHeader(s)),
    HeaderField.version, String(record.version),
    HeaderField.audioSeq, String(record.audioLastSeq),
    HeaderField.audioBytes, String(record.audioBytes),
    HeaderField.status, String(s.status),
    HeaderField.lastActivity, String(lastActivityMs(s)),
    HeaderField.resumedCount, String(s.resumedCount),
    HeaderField.liveToken, liveToken,
    HeaderField.commit, commitId,
  ];
}

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

function encode(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function millisOf(call: FunctionCall): number {
  return call.createdAt ? timestampDate(call.createdAt).getTime() : 0;
}
