import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { OverloadHold } from "../../src/client/overload-hold.js";

// OverloadHold's rules, without a sidecar: when a held session's updates may
// go again. The clock is vitest's (performance.now and timers together), so
// that "after its resend time" is exact rather than a guess about a loaded machine.
describe("OverloadHold", () => {
  beforeEach(() => void vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] }));
  afterEach(() => void vi.useRealTimers());

  /** A hold whose spread draws come from `draws`, recording what each expiry released. */
  function holdWith(draws: number[], inFlight: Set<string> = new Set()) {
    const released: string[][] = [];
    const hold: OverloadHold<string> = new OverloadHold(
      () => released.push(hold.releaseReady((s) => inFlight.has(s))),
      () => draws.shift() ?? 0,
    );
    return { hold, released };
  }

  it("gives every session held at once its own resend time within [delay, 2·delay), so their resends do not come as one burst", () => {
    const { hold, released } = holdWith([0.5, 0, 0.9]);
    // RetryInfo's 1 s is longer than any first backoff (200 ms ± 20 %): the delay is 1 s.
    for (const session of ["a", "b", "c"]) hold.hold(session, 1_000);
    vi.advanceTimersByTime(999);
    expect(released).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(released).toEqual([["b"]]);
    vi.advanceTimersByTime(500);
    expect(released).toEqual([["b"], ["a"]]);
    vi.advanceTimersByTime(400);
    expect(released).toEqual([["b"], ["a"], ["c"]]);
    expect(["a", "b", "c"].some((s) => hold.holds(s))).toBe(false);
  });

  it("releases a session whose time has come only once nothing of it is in flight, and a session held again keeps its time", () => {
    const inFlight = new Set(["a"]);
    const { hold, released } = holdWith([0, 0.5], inFlight);
    hold.hold("a", 1_000);
    hold.hold("a", 1_000); // a second refused update of a held session
    hold.hold("b", 1_000);
    vi.advanceTimersByTime(2_000);
    // a's updates still in flight will be refused too: resending before their acks could reorder them.
    expect(released).toEqual([[], ["b"]]);
    expect(hold.holds("a")).toBe(true);
    inFlight.clear();
    expect(hold.releaseReady((s) => inFlight.has(s))).toEqual(["a"]);
  });

  it("waits the longer of RetryInfo's delay and a backoff that doubles while refusals go on, and starts over after an ack", () => {
    const { hold, released } = holdWith([]);
    const waited = (session: string, retryDelayMs: number) => {
      const from = performance.now();
      hold.hold(session, retryDelayMs);
      while (!released.flat().includes(session)) vi.advanceTimersByTime(1);
      return performance.now() - from;
    };
    // Draws of 0: each session waits exactly the delay, the backoff's 200, 400, 800 ms ± 20 %.
    for (const [i, nominal] of [200, 400, 800].entries()) {
      const ms = waited(`s${i}`, 0);
      expect(ms).toBeGreaterThanOrEqual(nominal * 0.8);
      expect(ms).toBeLessThanOrEqual(nominal * 1.2 + 1);
    }
    expect(waited("long", 3_000)).toBe(3_000);
    hold.acknowledged();
    const ms = waited("after-ack", 0);
    expect(ms).toBeGreaterThanOrEqual(160);
    expect(ms).toBeLessThanOrEqual(241);
  });

  it("forgets every hold and its timer when a new stream replays everything", () => {
    const { hold, released } = holdWith([0]);
    hold.hold("a", 1_000);
    hold.clear();
    vi.advanceTimersByTime(5_000);
    expect(released).toEqual([]);
    expect(hold.holds("a")).toBe(false);
  });
});
