#!/usr/bin/env node
// The installed command: runs the compiled CLI (npm run build writes dist/).
import { main } from "../dist/main.js";

main(process.argv).catch((err) => {
  process.stderr.write(`sessionstore: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
