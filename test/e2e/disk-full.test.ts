import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status as GrpcCode } from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { BridgeUpdateStream, type UpdateError } from "../../src/client/index.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { type HealthWatch, ServingStatus, watchHealth } from "../support/health-watch.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";

/**
 * A real full disk: the database on a 2 MiB tmpfs, which needs root (or
 * CAP_SYS_ADMIN). Only the kernel refusing the mount skips this file, with
 * its reason; a missing mount(8) is a failure like any missing tool.
 */
const root = mkdtempSync(join(tmpdir(), "sessionstore-disk-full-"));
const refused = mountTmpfs(root, "2m");
if (refused !== undefined) {
  rmSync(root, { recursive: true, force: true });
  console.warn(`disk-full test skipped: the kernel refused to mount a tmpfs (${refused})`);
}

function mountTmpfs(dir: string, size: string): string | undefined {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "pipe" });
    return undefined;
  } catch (err) {
    const output = `${(err as { stderr?: Buffer }).stderr?.toString() ?? ""} ${(err as Error).message}`;
    if (/permission denied|must be superuser|operation not permitted/i.test(output)) return output.trim();
    throw err;
  }
}

/** Takes whatever room is left, as another writer on a shared volume would: writes to `file` until ENOSPC. */
function takeTheRest(file: string): void {
  const fd = openSync(file, "w");
  const block = Buffer.alloc(4096, 0x5a);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
}

/** History text of about 2 KB a write: the disk fills after a few dozen commits. */
const TEXT = "a transcript sentence of about sixty characters, as spoken! ".repeat(34);

describe.skipIf(refused !== undefined)("a full disk under the SQLite database", () => {
  const sidecars: Sidecar[] = [];
  const watches: HealthWatch[] = [];
  let stream: BridgeUpdateStream | undefined;

  afterAll(async () => {
    await stream?.close(1000).catch(() => undefined);
    watches.forEach((w) => w.close());
    await Promise.all(sidecars.map((s) => s.stop()));
    execFileSync("umount", [root]);
    rmSync(root, { recursive: true, force: true });
  });

  it("refuses writes as STORAGE_FULL without crashing, turns readiness NOT_SERVING, and writes again once space is freed, with every acknowledged write kept", async () => {
    // What an operator frees later: logs, an old backup.
    const filler = join(root, "filler");
    writeFileSync(filler, Buffer.alloc(1024 * 1024, 0x5a));
    const dbPath = join(root, "sessionstore.db");
    const sidecar = await startSidecar({ dbPath });
    sidecars.push(sidecar);
    const readiness = watchHealth(sidecar.address);
    const liveness = watchHealth(sidecar.address, "liveness");
    watches.push(readiness, liveness);
    await readiness.until(ServingStatus.SERVING);

    const client = sidecar.client({ retry: false });
    const { session } = await client.resumeSession({ conversationId: "full-call", ownerId: "pod-a", createIfMissing: true });
    stream = new BridgeUpdateStream(client);
    stream.track(session!);

    // Eight writes at a time, until the disk refuses them.
    const acked: string[] = [];
    const refusedItems: string[] = [];
    let failure: UpdateError | undefined;
    for (let round = 0; failure === undefined; round++) {
      expect(round).toBeLessThan(500);
      const ids = Array.from({ length: 8 }, (_, i) => `r${round}-${i}`);
      const results = await Promise.allSettled(ids.map((itemId) => stream!.write("full-call", { appendHistory: [{ itemId, text: TEXT }] })));
      results.forEach((result, i) => {
        if (result.status === "fulfilled") acked.push(ids[i]!);
        else {
          refusedItems.push(ids[i]!);
          failure ??= result.reason as UpdateError;
        }
      });
    }
    expect(acked.length).toBeGreaterThan(8);
    expect({ code: failure.code, reason: failure.reason }).toEqual({ code: GrpcCode.RESOURCE_EXHAUSTED, reason: "STORAGE_FULL" });
    expect(failure.details).toContain("the disk holding the session database is full");

    // A smaller write could still fit in what is left, or in the WAL's room the refused group
    // took; once nothing is left, a write larger than that room is refused whatever its RPC,
    // reads go on, and the process lives.
    const topUp = join(root, "top-up");
    takeTheRest(topUp);
    const large = TEXT.repeat(16);
    await expectRpcError(
      client.updateSession({ update: { conversationId: "full-call", appendHistory: [{ itemId: "unary", text: large }] } }),
      GrpcCode.RESOURCE_EXHAUSTED,
      "STORAGE_FULL",
    );
    await expectRpcError(
      client.createSession({ session: { conversationId: "new-call", conversationHistory: [{ itemId: "first", text: large }] } }),
      GrpcCode.RESOURCE_EXHAUSTED,
      "STORAGE_FULL",
    );
    const stored = async () => (await client.getSession({ conversationId: "full-call" })).session!.conversationHistory.map((h) => h.itemId);
    expect(await stored()).toEqual(acked);
    await readiness.until(ServingStatus.NOT_SERVING);
    expect(sidecar.logs.some((l) => l.msg.startsWith("storage cannot serve") && String(l.reason).includes("disk holding the session database is full"))).toBe(true);
    expect(liveness.seen).toEqual([ServingStatus.SERVING]);
    expect(() => process.kill(sidecar.pid, 0)).not.toThrow();

    // Space comes back: readiness follows without any write asking, and writes succeed.
    rmSync(filler);
    rmSync(topUp);
    await readiness.until(ServingStatus.SERVING);
    const after = ["after-0", "after-1", "after-2"];
    for (const itemId of after) await stream.write("full-call", { appendHistory: [{ itemId, text: "short" }] });
    await client.createSession({ session: { conversationId: "new-call" } });
    expect(await stored()).toEqual([...acked, ...after]);
    expect(refusedItems.length).toBeGreaterThan(0);
    await stream.close(5000);
    stream = undefined;

    // And it is on the disk: a clean stop, and a new sidecar on the file reads every acknowledged write.
    expect((await sidecar.stop()).code).toBe(0);
    const again = await startSidecar({ dbPath });
    sidecars.push(again);
    const { session: reread } = await again.client().getSession({ conversationId: "full-call" });
    expect(reread!.conversationHistory.map((h) => h.itemId)).toEqual([...acked, ...after]);
  });
});
