/**
 * The load generator's side of the transport ceiling: the same writes as
 * BridgeUpdateStream sends them — each update encoded once, batched by the
 * same UpdateBatcher into StreamUpdateBatches messages — but with no seqs,
 * acks or replay to keep, since the ceiling answers each message with an
 * empty one. A write resolves when the answer to its message arrives.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { SessionStoreService, SessionUpdateSchema, type UpdateParts } from "../../src/client/index.js";
import { UpdateBatcher } from "../../src/client/update-batcher.js";

export class RawBatchSink {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Uint8Array, Buffer>;
  private readonly batcher: UpdateBatcher;
  /** The writes of each message sent and not yet answered, oldest first. */
  private readonly sent: Array<Array<() => void>> = [];
  private unsent: Array<() => void> = [];
  private closed?: () => void;

  constructor(address: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    this.call = this.client.makeBidiStreamRequest(
      `/${SessionStoreService.typeName}/${SessionStoreService.method.streamUpdateBatches.name}`,
      (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      (bytes: Buffer) => bytes,
    );
    this.call.on("data", () => this.sent.shift()?.forEach((resolve) => resolve()));
    this.call.on("error", () => undefined);
    this.call.on("status", () => this.closed?.());
    this.batcher = new UpdateBatcher(UpdateBatcher.resolve(undefined), (message) => {
      this.sent.push(this.unsent);
      this.unsent = [];
      this.call.write(message);
    });
  }

  write(conversationId: string, parts: UpdateParts): Promise<void> {
    const update = toBinary(SessionUpdateSchema, create(SessionUpdateSchema, { ...parts, conversationId }));
    return new Promise((resolve) => {
      this.unsent.push(resolve);
      this.batcher.add(update);
    });
  }

  async close(): Promise<void> {
    this.batcher.flush();
    const ended = new Promise<void>((resolve) => (this.closed = resolve));
    this.call.end();
    await ended;
    this.client.close();
  }
}
