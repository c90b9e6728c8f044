import { hostname } from "node:os";
import { pathToFileURL } from "node:url";
import { Command, Option } from "commander";
import { type Logger, pino } from "pino";
import { BridgeUpdateStream, SessionStoreClient } from "sessionstore-client";
import { listenForSockets } from "../../shared/websocket-listener.js";
import type { ModelOptions } from "../../model-session/src/model-call.js";
import { type BridgeContext, CallHandler, type ResumeReply } from "./call-handler.js";

export interface BridgeOptions {
  /** host:port to accept the platform's WebSockets on; port 0 picks a free one. */
  listen: string;
  /** The sidecar's gRPC address. */
  sidecar: string;
  /** This bridge's identity as a session owner (pod or process name). */
  ownerId: string;
  /** What a successful session.resume is answered with. Default "accepted", as the Bot API defines. */
  resumeReply?: ResumeReply;
  /** An OpenAI-Realtime-compatible WebSocket endpoint; without it the DTMF bot answers (offline mode). */
  modelUrl?: string;
  /** Bearer token for the model endpoint. */
  modelApiKey?: string;
  log?: Logger;
}

export interface Bridge {
  /** ws://host:port of the running server. */
  url: string;
  /** Calls this process owns now. */
  liveCalls(): number;
  /** Stops accepting calls, closes every socket, and waits (up to 5 s) for unacknowledged writes. */
  close(): Promise<void>;
}

/** Starts a bridge: a Bot API WebSocket server recording each call in the sidecar. */
export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const log = options.log ?? pino({ base: { ownerId: options.ownerId } });
  const client = new SessionStoreClient(options.sidecar, { timeoutMs: 5_000 });
  const calls = new Map<string, CallHandler>();
  const updates = new BridgeUpdateStream(client, {
    onFenced: (conversationId) => calls.get(conversationId)?.fenced(),
    onEnded: (conversationId) => calls.get(conversationId)?.endedElsewhere(),
    onDisconnect: ({ status, unacked }) => log.warn({ code: status.code, unacked }, "update stream broke; replaying"),
  });
  const ctx: BridgeContext = { client, updates, ownerId: options.ownerId, resumeReply: options.resumeReply ?? "accepted", calls, model: modelOptions(options), log };

  const listener = await listenForSockets(options.listen, (ws) => new CallHandler(ws, ctx));
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

function modelOptions(options: BridgeOptions): ModelOptions | undefined {
  if (!options.modelUrl) return undefined;
  if (!/^wss?:\/\//.test(options.modelUrl)) throw new Error(`--model-url: "${options.modelUrl}" is not a ws:// or wss:// URL`);
  return { url: options.modelUrl, ...(options.modelApiKey ? { apiKey: options.modelApiKey } : {}) };
}

async function main(argv: string[]): Promise<void> {
  const opts = new Command("audiocodes-bridge")
    .description("Reference AudioCodes Bot API (streaming mode) bridge that keeps each call in a sessionstore sidecar")
    .option("--listen <host:port>", "where the platform connects", "127.0.0.1:8080")
    .option("--sidecar <address>", "the sessionstore sidecar's gRPC address", "127.0.0.1:50051")
    .option("--owner-id <id>", "this bridge's owner id", `bridge-${hostname()}-${process.pid}`)
    .addOption(new Option("--resume-reply <reply>", "answer to a successful session.resume").choices(["accepted", "resumed"]).default("accepted"))
    .option("--model-url <url>", "OpenAI-Realtime-compatible WebSocket endpoint for the calls (default: none, the offline DTMF bot answers)")
    .addOption(new Option("--model-api-key <key>", "bearer token for --model-url").env("MODEL_API_KEY"))
    .parse(argv)
    .opts<{ listen: string; sidecar: string; ownerId: string; resumeReply: ResumeReply; modelUrl?: string; modelApiKey?: string }>();
  const log = pino({ base: { ownerId: opts.ownerId } });
  const bridge = await startBridge({ ...opts, log });
  log.info({ url: bridge.url, sidecar: opts.sidecar, resumeReply: opts.resumeReply, model: opts.modelUrl ? "realtime" : "dtmf-bot" }, "listening");
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
