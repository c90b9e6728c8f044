import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { runConformance } from "./suite.js";

runConformance("sqlite", async ({ rules, clock }) => {
  const dir = mkdtempSync(join(tmpdir(), "sessionstore-conformance-"));
  const store = await SqliteStore.open({ path: join(dir, "sessions.db"), rules, clock });
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
