import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Backoff, backoffDelay, resolveBackoffOptions } from "../../src/client/backoff.js";
import { retryableCodes } from "../../src/client/retry.js";

describe("backoff", () => {
  const options = resolveBackoffOptions({ initialDelayMs: 100, maxDelayMs: 1_000, multiplier: 2, jitter: 0.2 });

  it("grows exponentially up to the cap", () => {
    const middle = () => 0.5; // no jitter
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, options, middle))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it("spreads each delay within ±jitter of its nominal value, capped ones included", () => {
    expect(backoffDelay(0, options, () => 0)).toBe(80);
    expect(backoffDelay(0, options, () => 1)).toBe(120);
    expect(backoffDelay(9, options, () => 0)).toBe(800);
    expect(backoffDelay(9, options, () => 1)).toBe(1_200);
  });

  it("starts over after a reset", () => {
    const backoff = new Backoff({ initialDelayMs: 10, maxDelayMs: 1_000, jitter: 0 });
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([10, 20, 40]);
    backoff.reset();
    expect(backoff.next()).toBe(10);
  });

  it("refuses options that would never wait or never grow", () => {
    expect(() => resolveBackoffOptions({ initialDelayMs: -1 })).toThrow(/initialDelayMs/);
    expect(() => resolveBackoffOptions({ initialDelayMs: 500, maxDelayMs: 100 })).toThrow(/maxDelayMs/);
    expect(() => resolveBackoffOptions({ multiplier: 0.5 })).toThrow(/multiplier/);
    expect(() => resolveBackoffOptions({ jitter: 2 })).toThrow(/jitter/);
  });
});

describe("which calls are retried", () => {
  it("retries reads on UNAVAILABLE and DEADLINE_EXCEEDED", () => {
    for (const method of ["getSession", "validateResume", "listSessions", "getStats"]) {
      expect(retryableCodes(method, {})).toEqual(new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]));
    }
  });

  it("retries an update only when it carries a seq, and only on UNAVAILABLE", () => {
    expect(retryableCodes("updateSession", { update: { seq: 7n } })).toEqual(new Set([status.UNAVAILABLE]));
    expect(retryableCodes("updateSession", { update: { seq: 0n } }).size).toBe(0);
    expect(retryableCodes("updateSession", { update: {} }).size).toBe(0);
  });

  it("never retries calls with side effects", () => {
    for (const method of ["createSession", "resumeSession", "endSession", "deleteSession", "cleanupSessions"]) {
      expect(retryableCodes(method, {}).size).toBe(0);
    }
  });
});
