import { type BinaryReadOptions, type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";

/** Levels a google.protobuf.Struct (metadata, audio_metadata, a history item's data) may nest in any request. */
export const MAX_STRUCT_DEPTH = 30;

/**
 * The messages around the deepest Struct of any request: UpdateSessionRequest >
 * SessionUpdate > Session > ConversationItem > data. Each Struct level below
 * it is two messages deep, a Struct and the Value holding the next.
 */
const MESSAGES_ABOVE_DEEPEST_STRUCT = 4;

/**
 * How the sidecar reads every message a client sent it, wherever it is read
 * (the server's decoders, the SQLite writer thread reading an update's bytes
 * as received).
 *
 * Unknown fields are dropped: a field this version does not define is
 * nothing the sidecar can check, so it is never stored, nor handed back to
 * other readers of the session.
 *
 * Nesting is limited so that no request can cost unbounded recursion, to
 * what MAX_STRUCT_DEPTH needs where a Struct sits deepest (64 messages):
 * far more than JSON-like metadata needs.
 */
export const REQUEST_READ_OPTIONS: Readonly<Partial<BinaryReadOptions>> = {
  readUnknownFields: false,
  recursionLimit: MESSAGES_ABOVE_DEEPEST_STRUCT + 2 * MAX_STRUCT_DEPTH,
};

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
