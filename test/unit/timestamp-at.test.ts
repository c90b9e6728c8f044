import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { timestampAt } from "../../src/session/timestamp-at.js";

describe("timestampAt", () => {
  it("makes the message timestampFromDate makes, to the millisecond", () => {
    for (const ms of [0, 1, 999, 1_000, 1_764_672_000_123, 4_102_444_799_999, -1, -1_500]) {
      expect(timestampAt(new Date(ms)), String(ms)).toStrictEqual(timestampFromDate(new Date(ms)));
    }
  });
});
