import { performance } from "node:perf_hooks";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { Health, HealthCheckRequestSchema } from "../../src/gen/grpc/health/v1/health_pb.js";
import { grpcServiceDefinition } from "../../src/grpc/grpc-service.js";
import { type Sidecar, startSidecar, tempDbPath } from "../support/sidecar-process.js";

const HealthClient = grpc.makeGenericClientConstructor(grpcServiceDefinition(Health), "Health");

/** How long one call takes, in ms. */
async function timed(call: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await call();
  return performance.now() - start;
}

// The SQLite writer runs on a thread of its own: the event loop that serves
// gRPC never waits for a commit or for a lock another process holds.
describe("SQLite: one writer, off the event loop", () => {
  it("answers health checks and reads within 100 ms while another connection holds the write lock for 3 s, then commits the write that waited", async () => {
    const dbPath = tempDbPath();
    const sidecar = await startSidecar({ dbPath });
    const client = sidecar.client();
    await client.createSession({ session: { conversationId: "call-1" } });
    const health = new HealthClient(sidecar.address, grpc.credentials.createInsecure());
    const check = () =>
      new Promise((resolve, reject) =>
        (health as unknown as Record<string, Function>).check!.call(health, create(HealthCheckRequestSchema, {}), (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res))),
      );

    const other = new Database(dbPath);
    other.exec("BEGIN IMMEDIATE");
    const held = performance.now();
    // This write has to wait for the lock (the writer's busy timeout is longer than 3 s).
    const write = client.updateSession({ update: { conversationId: "call-1", seq: 1n, appendHistory: [{ itemId: "h1" }] } });
    const slowest = { health: 0, read: 0 };
    while (performance.now() - held < 3_000) {
      slowest.health = Math.max(slowest.health, await timed(check));
      slowest.read = Math.max(slowest.read, await timed(() => client.getSession({ conversationId: "call-1" })));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    other.exec("ROLLBACK");
    other.close();
    const { applied } = await write;
    health.close();

    expect(slowest.health).toBeLessThan(100);
    expect(slowest.read).toBeLessThan(100);
    expect(applied).toBe(true);
    const { session } = await client.getSession({ conversationId: "call-1" });
    expect(session!.conversationHistory.map((h) => h.itemId)).toEqual(["h1"]);
    await sidecar.stop();
  });

  it("refuses to start a second sidecar on the same file, naming it, while the first serves on", async () => {
    const dbPath = tempDbPath();
    const first = await startSidecar({ dbPath });
    const refused = await startSidecar({ dbPath }).then(
      () => "started",
      (err: Error) => err.message,
    );
    expect(refused).toContain(`${dbPath} is in use by another sessionstore process`);
    await first.client().createSession({ session: { conversationId: "still-serving" } });
    await first.stop();
    // Once the first is gone (however it went), the file is free again.
    const next = await startSidecar({ dbPath });
    expect((await next.client().getSession({ conversationId: "still-serving" })).session?.conversationId).toBe("still-serving");
    await next.stop();
  });

  it("opens the file with the --sqlite-synchronous mode asked for, NORMAL unless told FULL, and says which", async () => {
    const opened = (sidecar: Sidecar) => sidecar.logs.find((l) => l.module === "sqlite" && l.msg.endsWith("session database"));
    const dbPath = tempDbPath();
    const normal = await startSidecar({ dbPath });
    expect(opened(normal)?.synchronous).toBe("normal");
    await normal.client().createSession({ session: { conversationId: "before" } });
    await normal.stop();
    const full = await startSidecar({ dbPath, env: { SESSIONSTORE_SQLITE_SYNCHRONOUS: "full" } });
    expect(opened(full)?.synchronous).toBe("full");
    expect(full.logs.find((l) => l.msg === "listening")?.sqliteSynchronous).toBe("full");
    await full.client().createSession({ session: { conversationId: "after" } });
    expect((await full.client().getSession({ conversationId: "before" })).session?.conversationId).toBe("before");
    await full.stop();
  });
});
