import { describe, expect, it } from "vitest";
import { DurationError, formatDuration, parseDuration } from "../../src/config/duration.js";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

describe("parseDuration", () => {
  it.each([
    ["300s", 300 * SECOND],
    ["24h", 24 * HOUR],
    ["1h30m", HOUR + 30 * MINUTE],
    ["500ms", 500],
    ["1m500ms", MINUTE + 500],
    ["1.5h", 1.5 * HOUR],
    [".5s", 500],
    ["7d", 7 * 24 * HOUR],
    ["0s", 0],
    ["  10s ", 10 * SECOND],
  ])("reads %j as %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it("refuses a bare number and says which unit to write", () => {
    expect(() => parseDuration("300")).toThrow(DurationError);
    expect(() => parseDuration("300")).toThrow("write a unit: 300s");
    expect(() => parseDuration("0")).toThrow("write a unit: 0s");
  });

  it.each(["", "   ", "abc", "10x", "s", "1h 30m", "-5s", "10S", "1h30", "5sec", "1e3ms"])("refuses %j", (text) => {
    expect(() => parseDuration(text)).toThrow(DurationError);
  });

  it("points at the part it cannot read", () => {
    expect(() => parseDuration("1h30x")).toThrow('cannot read "30x"');
  });

  it("refuses durations too long to count in milliseconds", () => {
    expect(() => parseDuration(`${"9".repeat(20)}d`)).toThrow("too long");
  });

  it("rounds fractions of a millisecond", () => {
    expect(parseDuration("1.4ms")).toBe(1);
    expect(parseDuration("0.0006s")).toBe(1);
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [500, "500ms"],
    [300 * SECOND, "5m"],
    [24 * HOUR, "24h"],
    [HOUR + 30 * MINUTE, "1h30m"],
    [MINUTE + 1_500, "1m1s500ms"],
    [72 * HOUR, "72h"],
  ])("writes %d ms as %j", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("writes what parseDuration reads back", () => {
    for (const ms of [1, 999, 1_000, 61_001, 3_599_999, 86_400_000, 90_061_001]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });

  it("refuses negative and non-finite values", () => {
    expect(() => formatDuration(-1)).toThrow(RangeError);
    expect(() => formatDuration(Number.NaN)).toThrow(RangeError);
  });
});
