import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { SessionStoreService, SessionUpdateSchema, StreamUpdateBatchesRequestSchema } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { grpcServiceDefinition } from "../../src/grpc/grpc-service.js";
import { raiseReceiveWindows } from "../../src/grpc/receive-window.js";
import { systemClock } from "../../src/runtime/clock.js";
import { defaultGroupCommitLimits, GroupCommitter } from "../../src/server/group-commit.js";
import { SessionActivity } from "../../src/server/session-activity.js";
import { SessionEvents } from "../../src/server/session-events.js";
import { type ReceivedMessage, StreamUpdatesCall } from "../../src/server/stream-updates-call.js";
import { measuredUpdates } from "../../src/server/stream-updates-rpc.js";
import { ManualGroupStore } from "../support/manual-group-store.js";

// A real grpc-js server and client: what is measured is how many request
// messages grpc-js decodes for a stream that has stopped reading.
describe("StreamUpdatesCall on grpc-js", () => {
  let server: grpc.Server | undefined;
  let client: grpc.Client | undefined;
  afterEach(() => {
    client?.close();
    server?.forceShutdown();
  });

  it("once held for a full commit queue, has grpc-js decode no more than about a MiB ahead, whatever the client sends", async () => {
    const silent = pino({ level: "silent" });
    // A store that never answers, and a queue that is full with one update waiting.
    const committer = new GroupCommitter(new ManualGroupStore().asStore(), { ...defaultGroupCommitLimits, maxQueuedUpdates: 1, queueTimeoutMs: 0 });
    const definition = measuredUpdates(grpcServiceDefinition(SessionStoreService));
    const batches = definition.streamUpdateBatches!;
    let decoded = 0;
    server = new grpc.Server();
    server.addService(
      { ...definition, streamUpdateBatches: { ...batches, requestDeserialize: (bytes: Buffer) => (decoded++, batches.requestDeserialize(bytes)) } },
      {
        streamUpdateBatches: (call: grpc.ServerDuplexStream<ReceivedMessage, unknown>) =>
          new StreamUpdatesCall(call, () => ({ tenant: "default", role: "admin" }), committer, { maxUnackedUpdates: 1024, maxUnackedBytes: 1 << 30 }, (c, acks) => c.write(acks), silent, {
            method: "StreamUpdateBatches",
            activity: new SessionActivity(new SessionEvents(silent), systemClock, silent),
          }),
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server!.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    // Windows wide enough for everything the client sends: only the read-ahead bounds what the server decodes.
    raiseReceiveWindows(server, 64 * 1024 * 1024, silent);
    client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const call = client.makeBidiStreamRequest(
      `/${SessionStoreService.typeName}/${SessionStoreService.method.streamUpdateBatches.name}`,
      (bytes: Uint8Array) => Buffer.from(bytes),
      (bytes: Buffer) => bytes,
    );
    call.on("error", () => undefined);
    // Forty messages of 100 updates with 5 KB of audio each, about 500 KB a message: 20 MB in all.
    const audio = new Uint8Array(5_000).fill(1);
    for (let m = 1; m <= 40; m++) {
      const updates = Array.from({ length: 100 }, (_, i) => create(SessionUpdateSchema, { conversationId: `call-${m}-${i}`, appendAudio: [{ data: audio }] }));
      call.write(toBinary(StreamUpdateBatchesRequestSchema, create(StreamUpdateBatchesRequestSchema, { updates })));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));

    // The first message went to the store, the second filled the queue and held the stream; of
    // the rest, what fits in a MiB (two such messages) may wait decoded, and one more in grpc-js.
    expect(committer.queueDepth).toBe(100);
    expect(decoded).toBeLessThanOrEqual(5);
    call.cancel();
  });
});
