import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { runConformance } from "./suite.js";

runConformance("memory", async ({ rules, clock }) => {
  const store = new MemoryStore({ rules, clock });
  return { store, cleanup: () => store.close() };
});
