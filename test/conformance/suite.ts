import { afterEach, describe } from "vitest";
import { ManualClock } from "../../src/runtime/clock.js";
import { defaultRules, type SessionRules } from "../../src/session/rules.js";
import type { Store } from "../../src/store/store.js";
import type { ConformanceContext, StoreFactory } from "./helpers.js";
import { abandonedTests } from "./abandoned.js";
import { audioTests } from "./audio.js";
import { batchTests } from "./batch.js";
import { expiryTests } from "./expiry.js";
import { historyEditTests } from "./history-edits.js";
import { historyWindowTests } from "./history-windows.js";
import { importTests } from "./import.js";
import { lifecycleTests } from "./lifecycle.js";
import { limitTests } from "./limits.js";
import { listTests } from "./list.js";
import { resumeTests } from "./resume.js";
import { sizeLimitTests } from "./size-limits.js";
import { updateTests } from "./update.js";

export type { StoreFactory } from "./helpers.js";

/**
 * The behaviour every Store backend must show, run against one backend. Each
 * test opens its own store (through `factory`) with a ManualClock, so expiry
 * is simulated rather than waited for, and rules tightened where a limit is
 * under test.
 */
export function runConformance(
  name: string,
  factory: (opts: { rules: SessionRules; clock: ManualClock }) => Promise<{ store: Store; cleanup: () => Promise<void> }>,
): void {
  describe(`Store conformance: ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = [];

    afterEach(async () => {
      for (let cleanup = cleanups.pop(); cleanup; cleanup = cleanups.pop()) await cleanup();
    });

    const context: ConformanceContext = {
      async open(overrides = {}) {
        const clock = new ManualClock();
        const rules: SessionRules = { ...defaultRules, ...overrides };
        const { store, cleanup } = await (factory satisfies StoreFactory)({ rules, clock });
        cleanups.push(cleanup);
        return { store, clock, rules };
      },
    };

    lifecycleTests(context);
    resumeTests(context);
    updateTests(context);
    batchTests(context);
    audioTests(context);
    listTests(context);
    expiryTests(context);
    limitTests(context);
    sizeLimitTests(context);
    historyEditTests(context);
    historyWindowTests(context);
    abandonedTests(context);
    importTests(context);
  });
}
