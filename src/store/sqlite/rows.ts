import { create, toBinary } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type AudioChunk,
  AudioChunkSchema,
  type ConversationItem,
  ConversationItemSchema,
  type FunctionCall,
  FunctionCallSchema,
} from "../../gen/sessionstore/v1/session_store_pb.js";
import { encodedHeader } from "../../session/encoded-header.js";
import { lastActivityMs, type SessionRecord } from "../../session/record.js";
import { decodeStored, decodeStoredHeader, storedCount } from "../stored-records.js";
import type { AudioRow, CallRow, HeaderParams, HeaderRow } from "./sql.js";

/**
 * Conversion between the store's rows and protobuf messages. Messages are
 * kept as protobuf binary, the format the API already defines, so a field
 * added to the proto is stored without a migration; only what SQL filters,
 * sorts or counts on is copied into columns beside it. A row that cannot be
 * read back is DATA_CORRUPTED for its session (see stored-records.ts).
 */

export function recordFromRow(row: HeaderRow): SessionRecord {
  const id = row.conversation_id;
  return {
    session: decodeStoredHeader(row.header, id, row.status),
    version: storedCount(row.version, id, "version"),
    audioLastSeq: BigInt(storedCount(row.audio_last_seq, id, "audio_last_seq")),
    audioBytes: storedCount(row.audio_bytes, id, "audio_bytes"),
  };
}

/**
 * The parameters that store a record's header row. The record's session
 * never carries children (records are built by headerOf and only their
 * scalar fields change), so the blob stays small however long the call runs.
 */
export function headerParams(tenant: string, record: SessionRecord): HeaderParams {
  const s = record.session;
  return {
    tenant,
    conversationId: s.conversationId,
    status: s.status,
    bridgeType: s.bridgeType,
    resumedCount: s.resumedCount,
    createdMs: millisOf(s.createdAt),
    lastActivityMs: lastActivityMs(s),
    version: record.version,
    audioLastSeq: record.audioLastSeq,
    audioBytes: record.audioBytes,
    header: encodedHeader(s),
  };
}

export function encodeHistoryItem(item: ConversationItem): Uint8Array {
  return toBinary(ConversationItemSchema, item);
}

export function historyItemFromRow(item: Uint8Array, conversationId: string): ConversationItem {
  return decodeStored(ConversationItemSchema, item, conversationId, "history");
}

export function encodeFunctionCall(call: FunctionCall): Uint8Array {
  return toBinary(FunctionCallSchema, call);
}

/** created_at comes from its column: an upsert replaces the call but keeps the first created_at. */
export function functionCallFromRow(row: CallRow, conversationId: string): FunctionCall {
  const call = decodeStored(FunctionCallSchema, row.call, conversationId, "function_call");
  call.createdAt = timestampFromDate(new Date(row.created_ms));
  return call;
}

export function audioChunkFromRow(row: AudioRow): AudioChunk {
  return create(AudioChunkSchema, {
    // A copy, so the message does not share Node's Buffer pool or its prototype.
    data: new Uint8Array(row.data),
    seq: BigInt(row.seq),
    createdAt: timestampFromDate(new Date(row.created_ms)),
  });
}

export function millisOf(timestamp: Timestamp | undefined): number {
  return timestamp ? timestampDate(timestamp).getTime() : 0;
}
