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
