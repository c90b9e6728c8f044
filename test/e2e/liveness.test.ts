import { afterAll, describe, expect, it } from "vitest";
import { type HealthWatch, ServingStatus, watchHealth } from "../support/health-watch.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";

// Liveness follows the event loop, not the storage: a sidecar whose loop was
// frozen says so for a while afterwards, then recovers by itself.
describe("liveness", () => {
  let sidecar: Sidecar | undefined;
  const watches: HealthWatch[] = [];

  afterAll(async () => {
    watches.forEach((w) => w.close());
    await sidecar?.stop();
  });

  it("turns NOT_SERVING after the event loop was blocked for 3 s, readiness unaffected, and SERVING again 10 s later", async () => {
    sidecar = await startSidecar();
    const liveness = watchHealth(sidecar.address, "liveness");
    const readiness = watchHealth(sidecar.address);
    watches.push(liveness, readiness);
    await liveness.until(ServingStatus.SERVING);
    await readiness.until(ServingStatus.SERVING);

    // SIGSTOP freezes the whole process: from inside, a 3 s stall of the event loop.
    process.kill(sidecar.pid, "SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, 3000));
    process.kill(sidecar.pid, "SIGCONT");

    await liveness.until(ServingStatus.NOT_SERVING);
    const blocked = sidecar.logs.find((l) => l.msg.startsWith("the event loop was blocked"));
    expect(Number(blocked?.delayMs)).toBeGreaterThan(2000);
    const unresponsiveAt = Date.now();
    await liveness.until(ServingStatus.SERVING);
    // Held for the documented 10 s (sampled every 0.5 s), not dropped at the next sample.
    expect(Date.now() - unresponsiveAt).toBeGreaterThan(8000);
    expect(liveness.seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
    expect(readiness.seen).toEqual([ServingStatus.SERVING]);
    await sidecar.client().createSession({ session: { conversationId: "after-the-stall" } });
  });
});
