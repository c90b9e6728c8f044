import { type DescMessage, type DescMethod, type DescService, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { EncodedMessage } from "./encoded-message.js";
import { decodeRequest } from "./request-decoding.js";

/**
 * protobuf-es generates message schemas and service descriptors but no gRPC
 * stubs; this turns a generated service descriptor into the ServiceDefinition
 * grpc-js serves and builds clients from. Paths follow the gRPC wire format,
 * `/package.Service/Method`.
 *
 * Only a server decodes requests, and it gets an UndecodableRequest instead
 * of an exception for bytes that are not one, so that its handler can answer.
 */
export function grpcServiceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = methodDefinition(service, method) as MethodDefinition<unknown, unknown>;
  }
  return definition as ServiceDefinition;
}

function methodDefinition(service: DescService, method: DescMethod): MethodDefinition<MessageShape<DescMessage>, MessageShape<DescMessage>> {
  const { input, output } = method;
  return {
    path: `/${service.typeName}/${method.name}`,
    originalName: method.localName,
    requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
    responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
    requestSerialize: (message) => Buffer.from(toBinary(input, message)),
    // Really `MessageShape | UndecodableRequest`: the server's unary handlers and update streams check which.
    requestDeserialize: (bytes) => decodeRequest(input, bytes) as MessageShape<DescMessage>,
    responseSerialize: (message) => bufferOf(message instanceof EncodedMessage ? message.bytes : toBinary(output, message)),
    responseDeserialize: (bytes) => fromBinary(output, bytes),
  };
}

/** The bytes as a Buffer, without copying them. */
function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
