/**
 * The transport ceiling: a bare grpc-js server on the sidecar's service
 * paths that decodes nothing and answers every message of an update stream
 * with an empty one at once. What it costs is what gRPC itself costs, for
 * the same streams and messages; the call simulator runs it as a process of
 * its own (`node --import tsx bench/support/transport-ceiling.ts`), which
 * prints `listening <port>` once bound.
 */
import * as grpc from "@grpc/grpc-js";
import { SessionStoreService } from "../../src/gen/sessionstore/v1/session_store_pb.js";

const raw = (bytes: Buffer) => bytes;
const empty = Buffer.alloc(0);

function echoEachMessage(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
  call.on("data", () => call.write(empty));
  call.on("end", () => call.end());
  call.on("error", () => undefined);
}

const definition: grpc.ServiceDefinition = Object.fromEntries(
  [SessionStoreService.method.streamUpdates, SessionStoreService.method.streamUpdateBatches].map((method) => [
    method.localName,
    {
      path: `/${SessionStoreService.typeName}/${method.name}`,
      requestStream: true,
      responseStream: true,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
    } satisfies grpc.MethodDefinition<Buffer, Buffer>,
  ]),
);

const server = new grpc.Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024 });
server.addService(definition, { streamUpdates: echoEachMessage, streamUpdateBatches: echoEachMessage });
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`listening ${port}\n`);
});
process.on("SIGTERM", () => server.forceShutdown());
