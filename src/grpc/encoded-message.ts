import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { concatBytes, concatFields } from "./length-delimited.js";

/**
 * A response message already encoded, which the service definition
 * (grpc-service.ts) sends as it is instead of encoding a message object. For
 * a store that keeps messages as protobuf binary, a large read is then its
 * stored bytes put side by side, not a decode of thousands of items and an
 * encode of them again.
 */
export class EncodedMessage {
  constructor(readonly bytes: Uint8Array) {}
}

/** A message of `schema` with `rest` as its fields and, as its field number `field`, a message given encoded. */
export function withEncodedField<S extends DescMessage>(schema: S, rest: MessageInitShape<S>, field: number, encoded: Uint8Array): EncodedMessage {
  return new EncodedMessage(concatBytes(concatFields(field, [encoded]), toBinary(schema, create(schema, rest))));
}
