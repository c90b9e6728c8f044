import { pathToFileURL } from "node:url";
import { Command } from "commander";
import { startMockRealtimeServer } from "./mock-realtime-server.js";

/**
 * The mock Realtime endpoint as a program, for the bridges' walkthroughs: prints
 * `listening ws://127.0.0.1:<port>/v1/realtime` and serves until SIGINT / SIGTERM.
 */
async function main(argv: string[]): Promise<void> {
  const opts = new Command("mock-realtime")
    .description("A deterministic stand-in for an OpenAI-Realtime-compatible endpoint, for trying the reference bridges without a model account")
    .option("--port <port>", "loopback port (0: any free one)", (v) => Number(v), 8095)
    .option("--api-key <key>", "refuse connections without this bearer token")
    .parse(argv)
    .opts<{ port: number; apiKey?: string }>();
  const server = await startMockRealtimeServer({ ...(opts.apiKey ? { apiKey: opts.apiKey } : {}), port: opts.port });
  console.log(`listening ${server.url}`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
