import { toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { type Session, SessionSchema } from "../gen/sessionstore/v1/session_store_pb.js";

/**
 * A session header's protobuf binary, encoded once per header object, and
 * for most headers without encoding the whole of it at all.
 *
 * After a group the same header is wanted encoded up to three times: to
 * check it against max_header_bytes, to store it (SQLite's header column,
 * one field of Redis's header hash), and inside the UPDATED event sent to
 * other sidecars. protobuf-es's toBinary of a header costs ~15 µs of
 * reflection, ~145 µs with a metadata Struct of four fields (npm run
 * bench:header-encoding), and a store writes one header per session per
 * group. Yet most updates (audio appends, history
 * items) move only MOVING fields of it: last_activity, etag, last_seq and
 * history_bytes. Such a header is encoded as the bytes of the header it came
 * from with those four fields cleared — encoded once for a whole run of
 * such updates — followed by its own four fields, which a decoder takes
 * just as it takes them in field order (a field may come anywhere in a
 * message). The bytes differ in order from toBinary's, never in what they
 * decode to or in their length.
 *
 * Records are values (record.ts): a header object is never changed once
 * made, so what is kept for it stays true for as long as it lives, and
 * WeakMaps let it go with it (a cached header keeps its run's first one and
 * both encodings alive: well under a kilobyte per cached session). The bytes
 * are shared: callers must not change them.
 */

const encoded = new WeakMap<Session, Uint8Array>();
/** For a header that differs from an earlier one only in MOVING fields: the first header of that run. */
const runStart = new WeakMap<Session, Session>();
/** A run's first header with its MOVING fields cleared, encoded. */
const runBytes = new WeakMap<Session, Uint8Array>();

export function encodedHeader(header: Session): Uint8Array {
  let bytes = encoded.get(header);
  if (bytes === undefined) {
    const start = runStart.get(header);
    bytes = start === undefined ? toBinary(SessionSchema, header) : withMovingFields(encodedRunStart(start), header);
    encoded.set(header, bytes);
  }
  return bytes;
}

/**
 * Tells that `next` is `from` with nothing changed but its MOVING fields
 * (update.ts, for an update without an update_mask), so that its encoding
 * can reuse what `from`'s run already encoded.
 */
export function movedOnly(next: Session, from: Session): void {
  runStart.set(next, runStart.get(from) ?? from);
}

function encodedRunStart(start: Session): Uint8Array {
  let bytes = runBytes.get(start);
  if (bytes === undefined) {
    bytes = toBinary(SessionSchema, { ...start, lastActivity: undefined, etag: "", lastSeq: 0n, historyBytes: 0n });
    runBytes.set(start, bytes);
  }
  return bytes;
}

const F = SessionSchema.field;
const T = TimestampSchema.field;

/** `fixed`, then the MOVING fields of `header` that are not at their default, as toBinary would write each. */
function withMovingFields(fixed: Uint8Array, header: Session): Uint8Array {
  const writer = new BinaryWriter().raw(fixed);
  const time = header.lastActivity;
  if (time !== undefined) {
    writer.tag(F.lastActivity.number, WireType.LengthDelimited).fork();
    if (time.seconds !== 0n) writer.tag(T.seconds.number, WireType.Varint).int64(time.seconds);
    if (time.nanos !== 0) writer.tag(T.nanos.number, WireType.Varint).int32(time.nanos);
    writer.join();
  }
  if (header.etag !== "") writer.tag(F.etag.number, WireType.LengthDelimited).string(header.etag);
  if (header.lastSeq !== 0n) writer.tag(F.lastSeq.number, WireType.Varint).int64(header.lastSeq);
  if (header.historyBytes !== 0n) writer.tag(F.historyBytes.number, WireType.Varint).int64(header.historyBytes);
  return writer.finish();
}
