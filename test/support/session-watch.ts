import { connect, type IncomingHttpHeaders } from "node:http2";
import { fromBinary } from "@bufbuild/protobuf";
import { Metadata, type ServiceError } from "@grpc/grpc-js";
import {
  errorReasonOf,
  SessionEventType,
  SessionStatus,
  SessionStoreService,
  type WatchSessionsResponse,
  WatchSessionsResponseSchema,
} from "../../src/client/index.js";
import type { SessionStoreClient, WatchSessionsCall } from "../../src/client/session-store-client.js";

/** A WatchSessions call read as it comes: its events so far, and how it ended. */
export interface Watching {
  call: WatchSessionsCall;
  events: WatchSessionsResponse[];
  /** Resolves with the error the stream ended with (undefined for OK or a cancel by us). */
  ended: Promise<ServiceError | undefined>;
  /** Resolves once at least `count` events have come (rejects after timeoutMs, naming what came). */
  waitFor(count: number, timeoutMs?: number): Promise<WatchSessionsResponse[]>;
}

/** Starts reading `call` at once, or leaves it unread (a slow watcher) until read() is called. */
export function watching(call: WatchSessionsCall): Watching & { read(): void } {
  const events: WatchSessionsResponse[] = [];
  const waiters: Array<() => void> = [];
  let settled = false;
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    call.on("error", (err: ServiceError) => {
      settled = true;
      resolve(err);
      for (const w of waiters) w();
    });
    call.on("end", () => {
      settled = true;
      resolve(undefined);
      for (const w of waiters) w();
    });
  });
  return {
    call,
    events,
    ended,
    read() {
      call.on("data", (event: WatchSessionsResponse) => {
        events.push(event);
        for (const w of waiters) w();
      });
    },
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < count) {
        if (settled) throw new Error(`the watch ended after ${events.length} of ${count} events: ${describe(events)}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`only ${events.length} of ${count} events came: ${describe(events)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return events;
    },
  };
}

/** Opens a watch and reads it from the start; resolves once the sidecar has subscribed it. */
export async function watch(client: SessionStoreClient, request: Parameters<SessionStoreClient["watchSessions"]>[0] = {}): Promise<Watching> {
  const w = watching(client.watchSessions(request));
  w.read();
  await subscribed(w.call);
  return w;
}

/**
 * Resolves once the server has the call: a server stream sends its headers
 * when the handler runs, and the handler subscribes before it returns, so
 * events published after this are delivered.
 */
export function subscribed(call: WatchSessionsCall): Promise<void> {
  return new Promise((resolve) => call.once("metadata", () => resolve()));
}

/** Events as [type, conversation_id, status] triples, for comparing. */
export function summary(events: readonly WatchSessionsResponse[]): [string, string, string][] {
  return events.map((e) => [SessionEventType[e.type], e.session?.conversationId ?? "", SessionStatus[e.session?.status ?? 0] ?? ""]);
}

function describe(events: readonly WatchSessionsResponse[]): string {
  return JSON.stringify(summary(events));
}

/** A WatchSessions call over a bare HTTP/2 stream, as a monitor that stopped reading leaves it. */
export interface UnreadWatch {
  /** Starts reading: every event sent, then the status. */
  readAll(): Promise<{ events: WatchSessionsResponse[]; code: number; reason: string | undefined }>;
}

/**
 * Opens WatchSessions on a connection of its own and reads nothing, so that
 * HTTP/2 flow control holds the sidecar back (grpc-js clients read
 * everything into memory whether or not the application reads, so they
 * cannot stand in for a stalled reader). Resolves once the response headers
 * came: the watch is subscribed.
 */
export async function unreadWatch(address: string): Promise<UnreadWatch> {
  const session = connect(`http://${address}`);
  const stream = session.request({
    ":method": "POST",
    ":path": `/${SessionStoreService.typeName}/${SessionStoreService.method.watchSessions.name}`,
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.end(Buffer.alloc(5)); // one empty WatchSessionsRequest, uncompressed
  stream.pause();
  const trailers = new Promise<IncomingHttpHeaders>((resolve) => stream.once("trailers", resolve));
  await new Promise<void>((resolve, reject) => {
    stream.once("response", () => resolve());
    stream.once("error", reject);
  });
  return {
    async readAll() {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.resume();
      const headers = await trailers;
      await new Promise<void>((resolve) => (stream.readableEnded ? resolve() : stream.once("end", () => resolve())));
      session.close();
      const events = grpcFrames(Buffer.concat(chunks)).map((frame) => fromBinary(WatchSessionsResponseSchema, frame));
      const details = headers["grpc-status-details-bin"];
      const metadata = new Metadata();
      if (typeof details === "string") metadata.set("grpc-status-details-bin", Buffer.from(details, "base64"));
      return { events, code: Number(headers["grpc-status"]), reason: errorReasonOf({ metadata }) };
    },
  };
}

/** The messages of a gRPC response body: each a flag byte, a 4-byte length, then the message. */
function grpcFrames(body: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = 0; at + 5 <= body.length; ) {
    const length = body.readUInt32BE(at + 1);
    frames.push(body.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return frames;
}
