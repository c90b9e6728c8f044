import { type BinaryReadOptions, type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";

/**
 * How the sidecar reads every message a client sent it, wherever it is read
 * (the server's decoders, the SQLite writer thread reading an update's bytes
 * as received).
 *
 * Unknown fields are dropped: a field this version does not define is
 * nothing the sidecar can check, so it is never stored, nor handed back to
 * other readers of the session.
 *
 * Nesting is limited so that no request can cost unbounded recursion: 64
 * messages deep holds a google.protobuf.Struct nested 30 levels wherever one
 * may appear (each level is a Struct and a Value, under at most four
 * messages of the request), which is far more than JSON-like metadata needs.
 */
export const REQUEST_READ_OPTIONS: Readonly<Partial<BinaryReadOptions>> = { readUnknownFields: false, recursionLimit: 64 };

/** Struct levels every request may hold; documented, and what the limit above was chosen for. */
export const MAX_STRUCT_DEPTH = 30;

/** A request whose bytes are not a message of its type: what was being decoded, and what the decoder found. */
export class UndecodableRequest {
  constructor(
    /** The message type that was expected, e.g. sessionstore.v1.SessionUpdate. */
    readonly typeName: string,
    /** The decoder's own account of what is wrong. */
    readonly problem: string,
    /** For a message holding several updates, which one (counting from 0). */
    readonly element?: number,
  ) {}
}

/**
 * Decodes a request without throwing: grpc-js answers a decoder that throws
 * with a bare INTERNAL and, on a stream, ends it at once; an
 * UndecodableRequest lets the handler answer with the request's own error.
 */
export function decodeRequest<S extends DescMessage>(schema: S, bytes: Uint8Array, element?: number): MessageShape<S> | UndecodableRequest {
  try {
    return fromBinary(schema, bytes, REQUEST_READ_OPTIONS);
  } catch (err) {
    return new UndecodableRequest(schema.typeName, err instanceof Error ? err.message : String(err), element);
  }
}
