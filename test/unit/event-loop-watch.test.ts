import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { EventLoopWatch } from "../../src/server/event-loop-watch.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Keeps this thread's event loop busy, as a synchronous bug would. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe("EventLoopWatch", () => {
  const watches: EventLoopWatch[] = [];
  afterEach(() => watches.splice(0).forEach((w) => w.stop()));

  function watch(reports: boolean[]): EventLoopWatch {
    const w = new EventLoopWatch({ maxDelayMs: 400, holdMs: 600, sampleMs: 50, report: (r) => reports.push(r), logger: pino({ level: "silent" }) });
    watches.push(w);
    w.start();
    return w;
  }

  it("reports nothing while the loop keeps up", async () => {
    const reports: boolean[] = [];
    watch(reports);
    await sleep(300);
    expect(reports).toEqual([]);
  });

  it("reports a blocked loop once, holds it, then reports it responsive again", async () => {
    const reports: boolean[] = [];
    watch(reports);
    await sleep(100);
    block(800);
    await sleep(100);
    expect(reports).toEqual([false]);
    await sleep(200);
    expect(reports).toEqual([false]); // still within holdMs of the stall
    await sleep(700);
    expect(reports).toEqual([false, true]);
  });
});
