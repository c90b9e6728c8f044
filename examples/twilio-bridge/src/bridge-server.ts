import { hostname } from "node:os";
import { pathToFileURL } from "node:url";
import { Command, Option } from "commander";
import { type Logger, pino } from "pino";
import { BridgeUpdateStream, SessionStoreClient } from "sessionstore-client";
import { listenForSockets } from "../../shared/websocket-listener.js";
import { StreamHandler, type TwilioContext } from "./stream-handler.js";

export interface TwilioBridgeOptions {
  /** host:port to accept Twilio's Media Streams WebSockets on; port 0 picks a free one. */
  listen: string;
  /** The sidecar's gRPC address. */
  sidecar: string;
  /** This bridge's identity as a session owner (pod or process name). */
  ownerId: string;
  /** An OpenAI-Realtime-compatible WebSocket endpoint. */
  modelUrl: string;
  /** Bearer token for it. */
  modelApiKey?: string;
  log?: Logger;
}

export interface TwilioBridge {
  /** ws://host:port of the running server; Twilio's `<Stream url>` points here (behind TLS). */
  url: string;
  /** Calls this process owns now. */
  liveCalls(): number;
  /** Stops accepting streams, closes every socket, and waits (up to 5 s) for unacknowledged writes. */
  close(): Promise<void>;
}

/** Starts a bridge: a Media Streams WebSocket server, each call talking to the model and recorded in the sidecar. */
export async function startTwilioBridge(options: TwilioBridgeOptions): Promise<TwilioBridge> {
  if (!/^wss?:\/\//.test(options.modelUrl)) throw new Error(`--model-url: "${options.modelUrl}" is not a ws:// or wss:// URL`);
  const log = options.log ?? pino({ base: { ownerId: options.ownerId } });
  const client = new SessionStoreClient(options.sidecar, { timeoutMs: 5_000 });
  const calls = new Map<string, StreamHandler>();
  const updates = new BridgeUpdateStream(client, {
    onFenced: (callSid) => calls.get(callSid)?.fenced(),
    onEnded: (callSid) => calls.get(callSid)?.endedElsewhere(),
    onDisconnect: ({ status, unacked }) => log.warn({ code: status.code, unacked }, "update stream broke; replaying"),
  });
  // The caller of a new stream hears nothing until someone speaks: the model does, first.
  const model = { url: options.modelUrl, speakFirst: true, ...(options.modelApiKey ? { apiKey: options.modelApiKey } : {}) };
  const ctx: TwilioContext = { client, updates, ownerId: options.ownerId, model, calls, log };

  const listener = await listenForSockets(options.listen, (ws) => new StreamHandler(ws, ctx));
  return {
    url: listener.url,
    liveCalls: () => calls.size,
    async close() {
      await listener.close();
      await updates.close(5_000);
      client.close();
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const opts = new Command("twilio-bridge")
    .description("Reference Twilio Media Streams bridge: each call talks to a Realtime model and is kept in a sessionstore sidecar")
    .option("--listen <host:port>", "where Twilio's Media Streams connect", "127.0.0.1:8090")
    .option("--sidecar <address>", "the sessionstore sidecar's gRPC address", "127.0.0.1:50051")
    .option("--owner-id <id>", "this bridge's owner id", `twilio-bridge-${hostname()}-${process.pid}`)
    .requiredOption("--model-url <url>", "OpenAI-Realtime-compatible WebSocket endpoint for the calls")
    .addOption(new Option("--model-api-key <key>", "bearer token for --model-url").env("MODEL_API_KEY"))
    .parse(argv)
    .opts<{ listen: string; sidecar: string; ownerId: string; modelUrl: string; modelApiKey?: string }>();
  const log = pino({ base: { ownerId: opts.ownerId } });
  const bridge = await startTwilioBridge({ ...opts, log });
  log.info({ url: bridge.url, sidecar: opts.sidecar }, "listening");
  const stop = (signal: string) => {
    log.info({ signal }, "shutting down");
    void bridge.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
