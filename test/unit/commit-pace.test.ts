import { describe, expect, it } from "vitest";
import { CommitPace } from "../../src/server/commit-pace.js";

describe("CommitPace", () => {
  it("knows no pace before a group is answered", () => {
    expect(new CommitPace().updatesIn(250)).toBe(Number.POSITIVE_INFINITY);
  });

  it("is the updates committed per millisecond of the store's time", () => {
    const pace = new CommitPace();
    pace.record(100, 0, 10);
    expect(pace.updatesIn(250)).toBeCloseTo(2_500);
  });

  it("counts the time of two groups in flight once: a group's time starts when the one before it was answered", () => {
    const pace = new CommitPace();
    pace.record(100, 0, 10);
    // Handed over at 5 while the first was committing; the store was on it from 10 to 20.
    pace.record(100, 5, 20);
    expect(pace.updatesIn(1)).toBeCloseTo(10);
  });

  it("follows the store when it slows down, the recent groups weighing most", () => {
    const pace = new CommitPace();
    for (let i = 0; i < 50; i++) pace.record(100, i * 10, i * 10 + 10);
    for (let i = 0; i < 50; i++) pace.record(100, 500 + i * 100, 500 + i * 100 + 100);
    // From 10 updates a millisecond to 1: the estimate is near the new pace, not the average of the two.
    expect(pace.updatesIn(1)).toBeLessThan(1.1);
  });
});
