import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/runtime/clock.js";
import { SessionSchema, SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { createLogger } from "../../src/runtime/logger.js";
import { defaultRules } from "../../src/session/rules.js";
import type { CleanupRequest } from "../../src/store/store.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { Sweeper } from "../../src/store/sweeper.js";

const HOUR_MS = 3_600_000;
const SWEEP_AGE_MS = HOUR_MS;

interface LogLine {
  level: number;
  msg: string;
  module?: string;
  [key: string]: unknown;
}

/** A MemoryStore that records cleanup calls and can be made to fail or wait, to watch the sweeper around them. */
class ObservedStore extends MemoryStore {
  calls: CleanupRequest[] = [];
  failNext = 0;
  gate: Promise<void> | undefined;

  override async cleanup(request: CleanupRequest): Promise<number> {
    this.calls.push(request);
    await this.gate;
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error("disk I/O error");
    }
    return super.cleanup(request);
  }
}

const sweepers: Sweeper[] = [];
afterEach(async () => {
  await Promise.all(sweepers.splice(0).map((s) => s.stop()));
});

// The store keeps sessions readable for 24 h while the sweeper deletes after 1 h,
// so a test can see that the sweeper removed a session rather than the store hiding it.
function setup(intervalMs = 60_000) {
  const clock = new ManualClock();
  const store = new ObservedStore({ rules: defaultRules, clock });
  const logs: LogLine[] = [];
  const logger = createLogger("debug", { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const sweeper = new Sweeper(store, { intervalMs, batchSize: 2, maxSessionAgeMs: SWEEP_AGE_MS, clock, logger });
  sweepers.push(sweeper);
  const exists = (id: string, tenant = "default") =>
    store.get(tenant, id, SessionView.BASIC).then(
      () => true,
      () => false,
    );
  const add = (id: string, tenant = "default") => store.create(tenant, create(SessionSchema, { conversationId: id }), "bridge-1");
  return { clock, store, logs, sweeper, exists, add };
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("Sweeper", () => {
  it("deletes sessions idle for longer than max session age in every tenant, and keeps recent ones", async () => {
    const { clock, store, logs, sweeper, exists, add } = setup();
    for (const id of ["old-1", "old-2", "old-3"]) await add(id);
    await add("old-b", "tenant-b");
    clock.advance(2 * HOUR_MS);
    await add("recent");

    expect(await sweeper.sweepOnce()).toBe(4);
    expect(store.calls).toEqual([{ tenant: undefined, cutoff: new Date(clock.now().getTime() - SWEEP_AGE_MS), dryRun: false, batchSize: 2 }]);
    expect(await exists("old-1")).toBe(false);
    expect(await exists("old-b", "tenant-b")).toBe(false);
    expect(await exists("recent")).toBe(true);
    expect(logs).toEqual([expect.objectContaining({ level: 30, module: "sweeper", msg: "swept expired sessions", deleted: 4 })]);
  });

  it("logs nothing when there is nothing to delete", async () => {
    const { logs, sweeper, add } = setup();
    await add("fresh");
    expect(await sweeper.sweepOnce()).toBe(0);
    expect(logs).toEqual([]);
  });

  it("sweeps every interval once started, and not after stop()", async () => {
    const { clock, store, logs, sweeper, exists, add } = setup(10);
    const swept = () => logs.filter((l) => l.msg === "swept expired sessions").length;
    await add("first");
    clock.advance(2 * HOUR_MS);
    sweeper.start();
    sweeper.start(); // a second start must not add a second timer
    await waitFor(() => swept() === 1, "the first sweep");
    expect(await exists("first")).toBe(false);
    await add("second");
    clock.advance(2 * HOUR_MS);
    await waitFor(() => swept() === 2, "a later sweep");
    expect(await exists("second")).toBe(false);

    await sweeper.stop();
    const calls = store.calls.length;
    await add("after-stop");
    clock.advance(2 * HOUR_MS);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.calls.length).toBe(calls);
    expect(await exists("after-stop")).toBe(true);
  });

  it("logs a failed sweep as a warning and sweeps again at the next interval", async () => {
    const { clock, store, logs, sweeper, exists, add } = setup(10);
    await add("old");
    clock.advance(2 * HOUR_MS);
    store.failNext = 1;
    sweeper.start();
    await waitFor(() => logs.some((l) => l.msg === "swept expired sessions"), "a successful sweep");
    const warning = logs.find((l) => l.level === 40);
    expect(warning).toMatchObject({ module: "sweeper", err: { message: "disk I/O error" } });
    expect(store.calls.length).toBeGreaterThanOrEqual(2);
    expect(await exists("old")).toBe(false);
  });

  it("runs one sweep at a time: a call during a sweep joins it", async () => {
    const { clock, store, sweeper, add } = setup();
    await add("old");
    clock.advance(2 * HOUR_MS);
    let open!: () => void;
    store.gate = new Promise((resolve) => (open = resolve));
    const first = sweeper.sweepOnce();
    const second = sweeper.sweepOnce();
    open();
    expect(await Promise.all([first, second])).toEqual([1, 1]);
    expect(store.calls).toHaveLength(1);
    store.gate = undefined;
    expect(await sweeper.sweepOnce()).toBe(0);
    expect(store.calls).toHaveLength(2);
  });

  it("stop() waits for a running sweep, so the store can be closed right after", async () => {
    const { clock, store, sweeper, add } = setup(5);
    await add("old");
    clock.advance(2 * HOUR_MS);
    let open!: () => void;
    store.gate = new Promise((resolve) => (open = resolve));
    sweeper.start();
    await waitFor(() => store.calls.length === 1, "the sweep to begin");

    let stopped = false;
    const stopping = sweeper.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(stopped).toBe(false);
    open();
    await stopping;
    await store.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(store.calls).toHaveLength(1);
    await sweeper.stop(); // idempotent
  });

  it("does not keep the process alive by itself", () => {
    const dir = mkdtempSync(join(tmpdir(), "sessionstore-sweeper-"));
    const src = (path: string) => fileURLToPath(new URL(`../../src/${path}`, import.meta.url));
    const script = join(dir, "idle.mts");
    writeFileSync(
      script,
      `import { Sweeper } from ${JSON.stringify(src("store/sweeper.ts"))};
import { MemoryStore } from ${JSON.stringify(src("store/memory/memory-store.ts"))};
import { systemClock } from ${JSON.stringify(src("runtime/clock.ts"))};
import { defaultRules } from ${JSON.stringify(src("session/rules.ts"))};
import { createLogger } from ${JSON.stringify(src("runtime/logger.ts"))};
const store = new MemoryStore({ rules: defaultRules, clock: systemClock });
new Sweeper(store, { intervalMs: 3_600_000, batchSize: 100, maxSessionAgeMs: 1000, clock: systemClock, logger: createLogger("info") }).start();
`,
    );
    const tsx = fileURLToPath(new URL("../../node_modules/.bin/tsx", import.meta.url));
    const result = spawnSync(tsx, [script], { timeout: 20_000, encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });
});
