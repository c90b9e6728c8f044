import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { type Session, SessionSchema } from "../gen/sessionstore/v1/session_store_pb.js";
import { dataCorrupted, type StoredPart } from "../session/errors.js";
import { isKnownStatus } from "../session/lifecycle.js";
import { fastHeader } from "../session/record.js";

/**
 * Reading back what a store wrote, for every backend. Bytes damaged on disk
 * (or by hand) either fail to decode or, protobuf being a lenient format,
 * decode into a message the store never wrote; both are DATA_CORRUPTED for
 * the one session they belong to, so a damaged record costs its own session
 * and never a list, a group of updates or the writer of other sessions.
 */

/** A stored child (history item, function call, audio chunk) of `conversationId`. */
export function decodeStored<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array, conversationId: string, part: StoredPart): MessageShape<Desc> {
  try {
    return fromBinary(schema, bytes);
  } catch (err) {
    throw dataCorrupted(conversationId, part, err);
  }
}

/**
 * A stored child sent on as it is, without decoding it (a long call's
 * history in a FULL read): its fields' tags and lengths are walked, which
 * costs a fraction of a decode and finds the damage that would make the
 * client's decode fail on framing. What lies inside a field (text, nested
 * messages) is not looked at.
 */
export function checkStoredFraming(bytes: Uint8Array, conversationId: string, part: StoredPart): void {
  try {
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const [number, wireType] = reader.tag();
      reader.skip(wireType, number);
    }
    if (reader.pos !== reader.len) throw new Error("a field runs past the end of the record");
  } catch (err) {
    throw dataCorrupted(conversationId, part, err);
  }
}

/**
 * A stored header, checked against what the store keeps beside it: the key
 * it is stored under and the status column a backend filters on. Damage
 * that decodes into another id or status is caught here, at the cost of two
 * comparisons.
 */
export function decodeStoredHeader(bytes: Uint8Array, conversationId: string, storedStatus: number): Session {
  const session = decodeStored(SessionSchema, bytes, conversationId, "header");
  if (session.conversationId !== conversationId) {
    throw dataCorrupted(conversationId, "header", new Error(`the header names conversation_id ${JSON.stringify(session.conversationId)}`));
  }
  if (!isKnownStatus(session.status) || session.status !== storedStatus) {
    throw dataCorrupted(conversationId, "header", new Error(`the header's status ${session.status} is not the stored status ${storedStatus}`));
  }
  return fastHeader(session);
}

/** A stored counter of a header (version, ring sizes): a non-negative safe integer, or DATA_CORRUPTED. */
export function storedCount(value: number, conversationId: string, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw dataCorrupted(conversationId, "header", new Error(`its ${name} is ${value}`));
  return value;
}
