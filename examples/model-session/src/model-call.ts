import type { JsonObject } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { type RealtimeClientEvent, type RestoreBudget, realtimeRestore, type Session, type UpdateParts } from "sessionstore-client";
import { ORDER_TOOL, runTool } from "./order-tool.js";
import { type RealtimeServerEvent, RealtimeSocket } from "./realtime-socket.js";

/** The Realtime API's audio formats a telephony bridge can relay without resampling. */
export type ModelAudioFormat = { type: "audio/pcm"; rate: 24_000 } | { type: "audio/pcmu" } | { type: "audio/pcma" };

export interface ModelOptions {
  /** OpenAI-Realtime-compatible WebSocket endpoint (--model-url). */
  url: string;
  /** Bearer token for it (--model-api-key); empty sends none. */
  apiKey?: string;
  /** How much of a long conversation a new model session is given on resume; default all of it. */
  restoreBudget?: RestoreBudget;
  /**
   * The model speaks first when its session opens: a greeting on a new call, picking the
   * conversation up again after a resume. Platforms whose caller waits in silence on a new
   * stream (Twilio) want it; default false.
   */
  speakFirst?: boolean;
}

/** What the model side of one call needs from the platform side. */
export interface ModelCallHooks {
  /** Writes one update of the call to the sidecar; resolves with the ack, or undefined when it was refused. */
  write(parts: UpdateParts): Promise<unknown>;
  /** Audio of the model's answer, in the call's format, to play to the caller. */
  audio(chunk: Buffer, itemId: string): void;
  /** The model finished the audio of one answer. */
  audioDone(itemId: string): void;
  /** The caller began to speak: whatever is still playing should stop (barge-in). */
  speechStarted(): void;
  /** The model's socket closed without close() being called. */
  lost(code: number): void;
  log: Logger;
}

const INSTRUCTIONS = "You are the order desk of a small shop. Answer briefly. Use lookup_order for any question about an order.";

/**
 * The `session` object of the session.update a bridge sends a new model session: audio in and out
 * in the call's own format, input transcription (so the sidecar gets the caller's words), server
 * voice detection, and the order tool. The bridge stores it in the session's metadata under
 * REALTIME_SESSION_KEY, so that a resumed call's new model session is configured the same way.
 */
export function realtimeSessionConfig(format: ModelAudioFormat): JsonObject {
  return {
    type: "realtime",
    instructions: INSTRUCTIONS,
    output_modalities: ["audio"],
    audio: {
      input: { format, transcription: { model: "gpt-4o-transcribe" }, turn_detection: { type: "server_vad" } },
      output: { format, voice: "alloy" },
    },
    tools: [ORDER_TOOL as unknown as JsonObject],
  };
}

/** Bytes of audio per millisecond, to turn what was played into the audio_end_ms of a truncation. */
function bytesPerMs(format: ModelAudioFormat): number {
  return format.type === "audio/pcm" ? 48 : 8;
}

/**
 * The model side of one call: one Realtime session, relaying the caller's audio to it and its
 * audio back, and recording in the sidecar what the conversation becomes — the caller's items
 * (appended when the model commits them, their text edited in when the transcript completes), the
 * model's answers, its function calls with their results, and the model's session, conversation
 * and response ids. Server events are handled one at a time in arrival order, so the writes keep
 * the conversation's order.
 */
export class ModelCall {
  private queue: Promise<void> = Promise.resolve();
  /** Outputs of this response's function calls, each sent once its result is durable. */
  private toolRuns: Promise<void>[] = [];
  /** Answers whose audio is known, for truncation on barge-in. */
  private readonly answers = new Map<string, { text: string; audioBytes: number }>();
  private closing = false;
  private socket!: RealtimeSocket;

  private constructor(
    private readonly hooks: ModelCallHooks,
    private readonly format: ModelAudioFormat,
    private turn: number,
  ) {}

  /** A new call: opens a model session and configures it with `config` (what the bridge stored as the call's realtime_session). */
  static async start(options: ModelOptions, hooks: ModelCallHooks, format: ModelAudioFormat, config: JsonObject): Promise<ModelCall> {
    const call = new ModelCall(hooks, format, 0);
    await call.connect(options);
    call.socket.send({ type: "session.update", session: config });
    if (options.speakFirst) call.socket.send({ type: "response.create" });
    return call;
  }

  /**
   * A resumed call: opens a new model session and replays the stored conversation into it through
   * the restore helper (configuration first, then the items, oldest first). Calls the model made
   * that have no stored result are run again, and their outputs given, before the model answers.
   */
  static async restore(options: ModelOptions, hooks: ModelCallHooks, format: ModelAudioFormat, session: Session, fallbackConfig: JsonObject): Promise<ModelCall> {
    const call = new ModelCall(hooks, format, session.currentTurn);
    await call.connect(options);
    const restore = realtimeRestore(session, options.restoreBudget ?? {});
    const events: RealtimeClientEvent[] = restore.events[0]?.type === "session.update" ? restore.events : [{ type: "session.update", session: fallbackConfig }, ...restore.events];
    for (const event of events) call.socket.send(event);
    hooks.log.info({ items: events.length - 1, dropped: restore.droppedItems, unanswered: restore.unansweredCalls.length }, "model session restored");
    for (const pending of restore.unansweredCalls) await call.answerCall(pending.callId, pending.functionName, pending.arguments);
    if (restore.unansweredCalls.length > 0 || options.speakFirst) call.socket.send({ type: "response.create" });
    return call;
  }

  /** The caller's audio, in the call's format. */
  appendAudio(chunk: Buffer): void {
    this.socket.send({ type: "input_audio_buffer.append", audio: chunk.toString("base64") });
  }

  /**
   * The caller interrupted an answer after hearing `playedMs` of it: the model forgets the rest
   * (conversation.item.truncate), and the stored item keeps the part heard — estimated from the
   * share of the answer's audio played, as the API does not say which words that was.
   */
  truncate(itemId: string, playedMs: number): void {
    const answer = this.answers.get(itemId);
    if (!answer) return;
    const audioEndMs = Math.max(0, Math.floor(playedMs));
    this.socket.send({ type: "conversation.item.truncate", item_id: itemId, content_index: 0, audio_end_ms: audioEndMs });
    const chars = [...answer.text];
    const totalMs = answer.audioBytes / bytesPerMs(this.format);
    const heard = totalMs <= 0 ? "" : chars.slice(0, Math.floor((chars.length * Math.min(audioEndMs, totalMs)) / totalMs)).join("");
    void this.hooks.write({ editHistory: [{ itemId, updateMask: { paths: ["text", "data"] }, text: heard, data: { truncated: true, audio_end_ms: audioEndMs } }] });
  }

  close(): void {
    this.closing = true;
    this.socket?.close();
  }

  private async connect(options: ModelOptions): Promise<void> {
    this.socket = await RealtimeSocket.open(
      { url: options.url, ...(options.apiKey ? { apiKey: options.apiKey } : {}) },
      (event) => {
        this.queue = this.queue.then(() => this.handle(event)).catch((err: unknown) => this.hooks.log.error({ err, type: event.type }, "model event failed"));
      },
      (code) => {
        if (!this.closing) this.hooks.lost(code);
      },
    );
    void this.hooks.write({ updateMask: { paths: ["openai_session_id"] }, session: { openaiSessionId: this.socket.sessionId } });
  }

  private async handle(event: RealtimeServerEvent): Promise<void> {
    switch (event.type) {
      case "conversation.item.added": {
        // The caller's turn, committed from audio. Items this bridge created (a replay, tool outputs) are already stored.
        const item = event.item as { id: string; type: string; role?: string; content?: { type: string; transcript?: string | null }[] };
        if (item.type !== "message" || item.role !== "user" || item.content?.[0]?.type !== "input_audio") return;
        await this.hooks.write({ appendHistory: [{ itemId: item.id, role: "user", type: "message", text: item.content[0].transcript ?? "" }] });
        return;
      }
      case "conversation.item.input_audio_transcription.completed":
        await this.hooks.write({ editHistory: [{ itemId: String(event.item_id), updateMask: { paths: ["text"] }, text: String(event.transcript ?? "") }] });
        return;
      case "input_audio_buffer.speech_started":
        return this.hooks.speechStarted();
      case "response.created":
        await this.hooks.write({ updateMask: { paths: ["active_response_id"] }, session: { activeResponseId: String((event.response as { id?: unknown }).id ?? "") } });
        return;
      case "response.output_audio.delta": {
        const chunk = Buffer.from(String(event.delta ?? ""), "base64");
        const itemId = String(event.item_id);
        const answer = this.answers.get(itemId) ?? { text: "", audioBytes: 0 };
        answer.audioBytes += chunk.length;
        this.answers.set(itemId, answer);
        return this.hooks.audio(chunk, itemId);
      }
      case "response.output_audio.done":
        return this.hooks.audioDone(String(event.item_id));
      case "response.output_item.done":
        return this.outputItem(event.item as { id: string; type: string; role?: string; content?: { transcript?: string | null; text?: string }[] });
      case "response.function_call_arguments.done":
        this.toolRuns.push(this.functionCall(String(event.item_id), String(event.call_id), String(event.name), String(event.arguments)));
        return;
      case "response.done":
        return this.responseDone(event.response as { id?: string; status?: string; conversation_id?: string });
      case "error":
        this.hooks.log.warn({ error: event.error }, "model reported an error");
        return;
      default:
        return;
    }
  }

  private async outputItem(item: { id: string; type: string; role?: string; content?: { transcript?: string | null; text?: string }[] }): Promise<void> {
    if (item.type !== "message" || item.role !== "assistant") return;
    const text = (item.content ?? []).map((part) => part.transcript ?? part.text ?? "").join("");
    const answer = this.answers.get(item.id);
    if (answer) answer.text = text;
    await this.hooks.write({ appendHistory: [{ itemId: item.id, role: "assistant", type: "message", text }] });
  }

  /** The call and its marker in one update (so a restore puts it exactly here), then the tool's result. */
  private async functionCall(itemId: string, callId: string, name: string, args: string): Promise<void> {
    await this.hooks.write({
      upsertFunctionCalls: [{ callId, functionName: name, arguments: args, status: "in_progress" }],
      appendHistory: [{ itemId, role: "assistant", type: "function_call", data: { call_id: callId } }],
    });
    await this.answerCall(callId, name, args);
  }

  /** Runs the tool, stores its result, and only then gives it to the model: a resume never finds the model ahead of the store. */
  private async answerCall(callId: string, name: string, args: string): Promise<void> {
    const output = runTool(name, args);
    const ack = await this.hooks.write({ upsertFunctionCalls: [{ callId, functionName: name, arguments: args, status: "completed", result: output }] });
    if (ack === undefined) return; // refused: the call moved or ended, this model session is being dropped
    this.socket.send({ type: "conversation.item.create", item: { type: "function_call_output", call_id: callId, output } });
  }

  private async responseDone(response: { id?: string; status?: string; conversation_id?: string }): Promise<void> {
    const runs = this.toolRuns.splice(0);
    await Promise.all(runs);
    if (response.status === "completed") this.turn += 1;
    await this.hooks.write({
      updateMask: { paths: ["active_response_id", "openai_conversation_id", "current_turn"] },
      session: { activeResponseId: "", openaiConversationId: response.conversation_id ?? "", currentTurn: this.turn },
    });
    // The model answers the tool outputs in a response of its own (one at a time per conversation).
    if (runs.length > 0) this.socket.send({ type: "response.create" });
  }
}
