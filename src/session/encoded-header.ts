import { toBinary } from "@bufbuild/protobuf";
import { type Session, SessionSchema } from "../gen/sessionstore/v1/session_store_pb.js";

/**
 * A session header's protobuf binary, encoded once per header object.
 *
 * After a group the same header is wanted encoded up to three times: to
 * check it against max_header_bytes, to store it (SQLite's header column,
 * one field of Redis's header hash), and inside the UPDATED event sent to
 * other sidecars. Each
 * toBinary of a header is several microseconds of reflection, a share of a
 * busy sidecar's main thread that showed in its profile. Records are values
 * (record.ts): a header object is never changed once made, so its bytes stay
 * true for as long as it lives, and a WeakMap lets them go with it. The bytes
 * are shared: callers must not change them.
 */
const encoded = new WeakMap<Session, Uint8Array>();

export function encodedHeader(header: Session): Uint8Array {
  let bytes = encoded.get(header);
  if (bytes === undefined) {
    bytes = toBinary(SessionSchema, header);
    encoded.set(header, bytes);
  }
  return bytes;
}
