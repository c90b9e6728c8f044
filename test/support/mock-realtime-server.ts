import type { IncomingMessage } from "node:http";
import { type WebSocket, WebSocketServer } from "ws";
import { decide, type MockItem, textOf } from "./mock-realtime-brain.js";
import { bytesPerMs, hear, isSilent, speak, type SpeechCodec } from "./mock-speech.js";

/**
 * A stand-in for an OpenAI-Realtime-compatible WebSocket endpoint (GA event names), on a free
 * loopback port. It speaks the subset a voice bridge uses and records every client event it
 * receives, so a test can assert exactly what a new model session was given.
 *
 * Client events: session.update, input_audio_buffer.append / commit / clear,
 * conversation.item.create, conversation.item.truncate, response.create, response.cancel.
 * Server events: session.created / updated, input_audio_buffer.speech_started / speech_stopped /
 * committed, conversation.item.added / done / truncated, response.created, output_item.added /
 * done, output_audio.delta / done, output_audio_transcript.done,
 * function_call_arguments.done, response.done, conversation.item.input_audio_transcription.completed,
 * error.
 *
 * Its voice detector is the mock speech's (test/support/mock-speech.ts): an appended chunk with
 * any non-silent sample is speech, the first all-silent chunk after speech ends the turn. The
 * input transcript comes after the response, as a slow transcription model's would, so a bridge
 * must fill in a user item it already stored.
 */

export interface MockRealtimeSession {
  /** The id given in session.created. */
  id: string;
  /** The Authorization header the client sent. */
  authorization: string | undefined;
  /** The model asked for in the URL (?model=). */
  model: string | null;
  /** Every client event, in arrival order. */
  received: { type: string; [key: string]: unknown }[];
  /** The conversation as the model holds it. */
  conversation: MockItem[];
  /** The session configuration after every session.update. */
  config: Record<string, unknown>;
  closed: Promise<void>;
  /** Breaks this session's socket, as a model outage would. */
  drop(): void;
}

export interface MockRealtimeServer {
  /** ws://127.0.0.1:port/v1/realtime */
  url: string;
  sessions: MockRealtimeSession[];
  /** Resolves with the n-th session (0-based) once it has connected. */
  session(n: number): Promise<MockRealtimeSession>;
  close(): Promise<void>;
}

/** Starts the mock; with `apiKey`, a connection without `Authorization: Bearer <apiKey>` is refused (401). */
export async function startMockRealtimeServer(options: { apiKey?: string; port?: number } = {}): Promise<MockRealtimeServer> {
  const server = new WebSocketServer({
    host: "127.0.0.1",
    port: options.port ?? 0,
    verifyClient: (info: { req: IncomingMessage }) => !options.apiKey || info.req.headers.authorization === `Bearer ${options.apiKey}`,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const sessions: MockRealtimeSession[] = [];
  const waiters: (() => void)[] = [];
  server.on("connection", (ws, req) => {
    sessions.push(new Connection(ws, req, sessions.length).session);
    for (const wake of waiters.splice(0)) wake();
  });
  const address = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${address.port}/v1/realtime`,
    sessions,
    async session(n) {
      while (sessions.length <= n) await new Promise<void>((resolve) => waiters.push(resolve));
      return sessions[n]!;
    },
    async close() {
      for (const ws of server.clients) ws.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

class Connection {
  readonly session: MockRealtimeSession;
  private ids = 0;
  private speaking = false;
  private buffer: Buffer[] = [];
  private readonly pendingTranscripts: { itemId: string; transcript: string }[] = [];

  constructor(
    private readonly ws: WebSocket,
    req: IncomingMessage,
    index: number,
  ) {
    const model = new URL(req.url ?? "/", "ws://x").searchParams.get("model");
    this.session = {
      id: `sess_mock${index}`,
      authorization: req.headers.authorization,
      model,
      received: [],
      conversation: [],
      config: { type: "realtime", model: model ?? "mock-realtime", audio: { input: { format: { type: "audio/pcm", rate: 24_000 }, turn_detection: { type: "server_vad" } }, output: { format: { type: "audio/pcm", rate: 24_000 } } } },
      closed: new Promise((resolve) => ws.once("close", () => resolve())),
      drop: () => ws.terminate(),
    };
    ws.on("message", (data) => this.receive(data.toString()));
    this.send({ type: "session.created", session: { id: this.session.id, object: "realtime.session", ...this.session.config } });
  }

  private receive(text: string): void {
    let event: { type: string; [key: string]: unknown };
    try {
      event = JSON.parse(text) as typeof event;
    } catch {
      return this.error("invalid_json", "The event is not JSON.");
    }
    this.session.received.push(event);
    switch (event.type) {
      case "session.update":
        this.session.config = merge(this.session.config, (event.session ?? {}) as Record<string, unknown>);
        return this.send({ type: "session.updated", session: { id: this.session.id, ...this.session.config } });
      case "input_audio_buffer.append":
        return this.append(Buffer.from(String(event.audio ?? ""), "base64"));
      case "input_audio_buffer.commit":
        return this.commit();
      case "input_audio_buffer.clear":
        this.buffer = [];
        return this.send({ type: "input_audio_buffer.cleared" });
      case "conversation.item.create":
        return this.createItem(event.item as MockItem);
      case "conversation.item.truncate":
        return this.truncate(String(event.item_id), Number(event.audio_end_ms));
      case "response.create":
        return this.respond();
      case "response.cancel":
        // Responses are produced at once, so there is never one in progress to cancel.
        return this.error("response_cancel_not_active", "There is no active response to cancel.");
      default:
        return this.error("invalid_event", `Unknown event type "${event.type}".`);
    }
  }

  private append(chunk: Buffer): void {
    if (!isSilent(chunk, this.inputCodec())) {
      if (!this.speaking) this.send({ type: "input_audio_buffer.speech_started", audio_start_ms: 0, item_id: this.peekId() });
      this.speaking = true;
      this.buffer.push(chunk);
      return;
    }
    if (!this.speaking || !this.vad()) return;
    this.speaking = false;
    this.send({ type: "input_audio_buffer.speech_stopped", audio_end_ms: 0, item_id: this.peekId() });
    this.commit();
  }

  private commit(): void {
    const transcript = hear(Buffer.concat(this.buffer), this.inputCodec());
    this.buffer = [];
    if (transcript === "") return this.error("input_audio_buffer_commit_empty", "The input audio buffer is empty.");
    const id = this.nextId();
    const previous = this.session.conversation.at(-1)?.id ?? null;
    this.send({ type: "input_audio_buffer.committed", item_id: id, previous_item_id: previous });
    // The model "hears" the audio at once; the client gets the transcript later.
    const item: MockItem = { id, type: "message", role: "user", status: "completed", content: [{ type: "input_audio", transcript }] };
    this.session.conversation.push(item);
    const announced = { ...item, content: [{ type: "input_audio", transcript: null }] };
    this.send({ type: "conversation.item.added", previous_item_id: previous, item: announced });
    this.send({ type: "conversation.item.done", previous_item_id: previous, item: announced });
    this.pendingTranscripts.push({ itemId: id, transcript });
    if (this.vad() && (this.turnDetection()?.create_response ?? true) !== false) this.respond();
    this.flushTranscripts();
  }

  private flushTranscripts(): void {
    for (const { itemId, transcript } of this.pendingTranscripts.splice(0)) {
      this.send({ type: "conversation.item.input_audio_transcription.completed", item_id: itemId, content_index: 0, transcript });
    }
  }

  private createItem(item: MockItem): void {
    if (typeof item !== "object" || item === null) return this.error("invalid_value", "conversation.item.create needs an item.");
    if (item.id !== undefined && (item.id.length === 0 || item.id.length > 32)) return this.error("invalid_value", "Invalid 'item.id': expected a string with maximum length 32.");
    if (item.id !== undefined && this.session.conversation.some((i) => i.id === item.id)) return this.error("item_id_already_exists", `Item with id '${item.id}' already exists.`);
    if (item.type === "function_call_output" && !this.session.conversation.some((i) => i.type === "function_call" && i.call_id === item.call_id)) {
      return this.error("invalid_value", `No function call found for call_id '${item.call_id}'.`);
    }
    const stored: MockItem = { ...item, id: item.id ?? this.nextId(), status: "completed" };
    const previous = this.session.conversation.at(-1)?.id ?? null;
    this.session.conversation.push(stored);
    this.send({ type: "conversation.item.added", previous_item_id: previous, item: stored });
    this.send({ type: "conversation.item.done", previous_item_id: previous, item: stored });
  }

  private truncate(itemId: string, audioEndMs: number): void {
    const item = this.session.conversation.find((i) => i.id === itemId);
    if (!item || item.role !== "assistant") return this.error("invalid_value", `No assistant item '${itemId}'.`);
    const codec = this.outputCodec();
    const heard = hear(speak(textOf(item), codec).subarray(0, Math.floor(audioEndMs * bytesPerMs(codec))), codec);
    item.content = [{ type: "output_audio", transcript: heard }];
    this.send({ type: "conversation.item.truncated", item_id: itemId, content_index: 0, audio_end_ms: audioEndMs });
  }

  private respond(): void {
    const responseId = `resp_${this.nextId()}`;
    const conversationId = `conv_${this.session.id}`;
    this.send({ type: "response.created", response: { id: responseId, object: "realtime.response", status: "in_progress", conversation_id: conversationId, output: [] } });
    const tools = ((this.session.config.tools ?? []) as { name?: string }[]).map((t) => t.name ?? "");
    const decision = decide(this.session.conversation, tools);
    const id = this.nextId();
    const base = { response_id: responseId, item_id: id, output_index: 0 };
    let item: MockItem;
    if (decision.kind === "function_call") {
      item = { id, type: "function_call", status: "completed", call_id: `call_${id}`, name: decision.name, arguments: decision.arguments };
      this.send({ type: "response.output_item.added", response_id: responseId, output_index: 0, item: { ...item, arguments: "", status: "in_progress" } });
      this.send({ type: "response.function_call_arguments.done", ...base, call_id: item.call_id, name: item.name, arguments: item.arguments });
    } else {
      item = { id, type: "message", role: "assistant", status: "completed", content: [{ type: "output_audio", transcript: decision.text }] };
      this.send({ type: "response.output_item.added", response_id: responseId, output_index: 0, item: { ...item, content: [], status: "in_progress" } });
      const audio = speak(decision.text, this.outputCodec());
      const chunk = Math.max(1, Math.ceil(audio.length / 3)); // a few deltas, as a real stream sends
      for (let at = 0; at < audio.length; at += chunk) {
        this.send({ type: "response.output_audio.delta", ...base, content_index: 0, delta: audio.subarray(at, at + chunk).toString("base64") });
      }
      this.send({ type: "response.output_audio.done", ...base, content_index: 0 });
      this.send({ type: "response.output_audio_transcript.done", ...base, content_index: 0, transcript: decision.text });
    }
    this.session.conversation.push(item);
    this.send({ type: "response.output_item.done", response_id: responseId, output_index: 0, item });
    this.send({ type: "response.done", response: { id: responseId, object: "realtime.response", status: "completed", conversation_id: conversationId, output: [item] } });
  }

  private turnDetection(): { create_response?: boolean } | null | undefined {
    const input = ((this.session.config.audio as Record<string, unknown> | undefined)?.input ?? {}) as Record<string, unknown>;
    return input.turn_detection as { create_response?: boolean } | null | undefined;
  }

  private vad(): boolean {
    return this.turnDetection() !== null;
  }

  private inputCodec(): SpeechCodec {
    return codecOf(this.session.config, "input");
  }

  private outputCodec(): SpeechCodec {
    return codecOf(this.session.config, "output");
  }

  private nextId(): string {
    this.ids += 1;
    return this.peekId(0);
  }

  private peekId(ahead = 1): string {
    return `item_${this.session.id.slice(5)}_${String(this.ids + ahead).padStart(4, "0")}`;
  }

  private error(code: string, message: string): void {
    this.send({ type: "error", error: { type: "invalid_request_error", code, message } });
  }

  private send(event: Record<string, unknown>): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify({ event_id: `event_${this.nextEventId()}`, ...event }));
  }

  private events = 0;
  private nextEventId(): number {
    return ++this.events;
  }
}

function codecOf(config: Record<string, unknown>, direction: "input" | "output"): SpeechCodec {
  const audio = (config.audio ?? {}) as Record<string, { format?: { type?: string } }>;
  return audio[direction]?.format?.type === "audio/pcmu" ? "audio/pcmu" : "audio/pcm";
}

/** session.update semantics: nested objects merge, anything else (arrays, null) replaces. */
function merge(into: Record<string, unknown>, update: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...into };
  for (const [key, value] of Object.entries(update)) {
    const old = out[key];
    const bothObjects = isPlainObject(old) && isPlainObject(value);
    out[key] = bothObjects ? merge(old, value) : value;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
