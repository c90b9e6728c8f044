import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { HealthMonitor } from "../../src/server/health-monitor.js";

/** A store whose ping answers as the test says, and that tells the test when it has been asked. */
function fakeStore() {
  let up = true;
  let probes = 0;
  let waiters: Array<{ count: number; resolve: () => void }> = [];
  return {
    setUp(value: boolean) {
      up = value;
    },
    async ping(): Promise<void> {
      probes += 1;
      const ready = waiters.filter((w) => probes >= w.count);
      waiters = waiters.filter((w) => probes < w.count);
      ready.forEach((w) => w.resolve());
      if (!up) throw new Error("storage down");
    },
    /** Resolves once `more` further probes have been made. */
    probed(more: number): Promise<void> {
      return new Promise((resolve) => waiters.push({ count: probes + more, resolve }));
    },
  };
}

describe("HealthMonitor", () => {
  const monitors: HealthMonitor[] = [];
  afterEach(async () => {
    await Promise.all(monitors.splice(0).map((m) => m.stop()));
  });

  function monitor(store: ReturnType<typeof fakeStore>, reports: boolean[]): HealthMonitor {
    const m = new HealthMonitor({ probe: () => store.ping(), report: (s) => reports.push(s), intervalMs: 1, logger: pino({ level: "silent" }) });
    monitors.push(m);
    return m;
  }

  it("reports only changes: NOT_SERVING when the store fails, SERVING when it answers again", async () => {
    const store = fakeStore();
    const reports: boolean[] = [];
    const m = monitor(store, reports);
    m.start();
    await store.probed(3);
    expect(reports).toEqual([]);
    store.setUp(false);
    // Two probes: the one that may have started before the change, then one that saw it.
    await store.probed(2);
    await store.probed(3);
    expect(reports).toEqual([false]);
    store.setUp(true);
    await store.probed(2);
    await store.probed(1);
    expect(reports).toEqual([false, true]);
  });

  it("reports nothing after stop, so a shutdown's NOT_SERVING stands", async () => {
    const store = fakeStore();
    const reports: boolean[] = [];
    const m = monitor(store, reports);
    m.start();
    await store.probed(1);
    await m.stop();
    store.setUp(false);
    // Were it still running, a probe would come; stop() has cleared the timer, so none does.
    const probedAgain = await Promise.race([store.probed(1).then(() => true), new Promise((r) => setImmediate(r, false))]);
    expect(probedAgain).toBe(false);
    expect(reports).toEqual([]);
  });
});
