import { type ServiceError, status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type RetryInfo, SessionStoreClient } from "../../src/client/index.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";

// Retries against a real sidecar that goes away and comes back on the same address.
describe("SessionStoreClient retries", () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function sidecar(options?: Parameters<typeof startSidecar>[0]): Promise<Sidecar> {
    const s = await startSidecar(options);
    cleanup.push(() => s.stop("SIGKILL"));
    return s;
  }

  /** A client that records its retries; generous attempts, so a slow restart on a busy machine still fits. */
  function retryingClient(address: string): { client: SessionStoreClient; retries: RetryInfo[] } {
    const retries: RetryInfo[] = [];
    const client = new SessionStoreClient(address, {
      timeoutMs: 5_000,
      retry: { maxAttempts: 100, backoff: { initialDelayMs: 20, maxDelayMs: 200 }, onRetry: (info) => retries.push(info) },
    });
    cleanup.push(() => client.close());
    return { client, retries };
  }

  it("retries reads and seq-carrying updates through a restart on the same address", async () => {
    const first = await sidecar();
    const { client, retries } = retryingClient(first.address);
    await client.createSession({ session: { conversationId: "retry-1", caller: "alice" } });
    await first.stop("SIGTERM");

    const read = client.getSession({ conversationId: "retry-1" });
    const stats = client.getStats();
    const write = client.updateSession({ update: { conversationId: "retry-1", seq: 1n, appendHistory: [{ itemId: "h1" }] } });
    // Restart only once each call has failed and is waiting to retry.
    await vi.waitFor(() => expect(new Set(retries.map((r) => r.method)).size).toBe(3), { timeout: 20_000, interval: 10 });
    await sidecar({ dbPath: first.dbPath, args: ["--listen", first.address] });

    expect((await read).session?.caller).toBe("alice");
    expect((await stats).totalSessions).toBe(1n);
    expect((await write).applied).toBe(true);
    const retried = new Set(retries.map((r) => r.method));
    expect(retried).toEqual(new Set(["getSession", "getStats", "updateSession"]));
    expect(retries.every((r) => r.error.code === status.UNAVAILABLE)).toBe(true);

    const { session } = await client.getSession({ conversationId: "retry-1" });
    expect(session?.conversationHistory.map((h) => h.itemId)).toEqual(["h1"]);
    expect(session?.lastSeq).toBe(1n);
  });

  it("never retries calls that are not idempotent: they fail with UNAVAILABLE at once", async () => {
    const server = await sidecar();
    const { client, retries } = retryingClient(server.address);
    await client.createSession({ session: { conversationId: "once-1" } });
    await server.stop("SIGTERM");

    const calls: [string, Promise<unknown>][] = [
      ["createSession", client.createSession({ session: { conversationId: "once-2" } })],
      ["resumeSession", client.resumeSession({ conversationId: "once-1", ownerId: "bridge-a" })],
      ["updateSession without seq", client.updateSession({ update: { conversationId: "once-1", appendHistory: [{ text: "x" }] } })],
      ["endSession", client.endSession({ conversationId: "once-1" })],
      ["deleteSession", client.deleteSession({ conversationId: "once-1" })],
      ["cleanupSessions", client.cleanupSessions({})],
    ];
    for (const [name, call] of calls) {
      const error = (await call.then(
        () => undefined,
        (err: ServiceError) => err,
      )) as ServiceError | undefined;
      expect({ name, code: error?.code }).toEqual({ name, code: status.UNAVAILABLE });
    }
    expect(retries).toEqual([]);
  });

  it("gives up on a read after maxAttempts and throws the last error", async () => {
    const server = await sidecar();
    const address = server.address;
    await server.stop("SIGTERM");
    const retries: RetryInfo[] = [];
    const client = new SessionStoreClient(address, { retry: { maxAttempts: 3, backoff: { initialDelayMs: 1, maxDelayMs: 5 }, onRetry: (r) => retries.push(r) } });
    cleanup.push(() => client.close());
    const error = await client.getSession({ conversationId: "gone" }).catch((err: ServiceError) => err);
    expect((error as ServiceError).code).toBe(status.UNAVAILABLE);
    expect(retries.map((r) => r.attempt)).toEqual([1, 2]);
    const noRetry = await client.getSession({ conversationId: "gone" }, { retry: false }).catch((err: ServiceError) => err);
    expect((noRetry as ServiceError).code).toBe(status.UNAVAILABLE);
    expect(retries).toHaveLength(2);
  });
});
