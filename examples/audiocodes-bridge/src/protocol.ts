import type { ModelAudioFormat } from "../../model-session/src/model-call.js";

/**
 * The lifecycle part of the AudioCodes VoiceAI Connect Bot API in streaming
 * mode, as JSON messages over one WebSocket per call. Only the fields this
 * example reads or writes are typed; the platform sends more.
 */

/** An activity, both ways: the caller's DTMF or hang-up, the bot's text. */
export interface Activity {
  type: "event" | "message";
  /** For events: "DTMF", "hangup", or any other name the platform or bot uses. */
  name?: string;
  /** For a DTMF event: the digit(s). */
  value?: unknown;
  /** For messages: what the bot says. */
  text?: string;
  id?: string;
  timestamp?: string;
  parameters?: Record<string, unknown>;
}

/** Platform → bot. */
export type PlatformMessage =
  | {
      type: "session.initiate";
      conversationId: string;
      expectAudioMessages?: boolean;
      botName?: string;
      caller?: string;
      supportedMediaFormats?: string[];
    }
  | { type: "session.resume"; conversationId: string }
  | { type: "userStream.start"; conversationId?: string }
  | { type: "userStream.chunk"; conversationId?: string; audioChunk: string }
  | { type: "userStream.stop"; conversationId?: string }
  | { type: "activities"; conversationId?: string; activities: Activity[] }
  | { type: "connection.validate"; conversationId?: string }
  | { type: "session.end"; conversationId?: string; reasonCode?: string; reason?: string };

/** Bot → platform. */
export type BotMessage =
  | { type: "session.accepted"; conversationId: string; mediaFormat: string }
  | { type: "session.resumed"; conversationId: string; mediaFormat: string }
  | { type: "session.error"; conversationId: string; reason: string; errorCode?: string }
  | { type: "userStream.started"; conversationId: string }
  | { type: "userStream.stopped"; conversationId: string }
  | { type: "activities"; conversationId: string; activities: Activity[] }
  | { type: "connection.validated"; conversationId: string; success: boolean }
  | { type: "playStream.start"; conversationId: string; streamId: string; mediaFormat: string }
  | { type: "playStream.chunk"; conversationId: string; streamId: string; audioChunk: string }
  | { type: "playStream.stop"; conversationId: string; streamId: string };

export type PlatformMessageType = PlatformMessage["type"];
export type BotMessageType = BotMessage["type"];

/** The errorCode of a session.error answering a session.resume that the sidecar refused (the plan's name). */
export const RESUME_FAILED = "RESUME_FAILED";

/** Media formats this bridge can take, most preferred first; the platform's list decides among them. */
export const SUPPORTED_MEDIA_FORMATS = ["raw/lpcm16", "raw/lpcm16_24", "raw/mulaw", "raw/alaw"] as const;

/**
 * With a model (--model-url), the formats the Realtime API takes as they are: relaying them needs
 * no resampling, so the caller's audio reaches the model untouched. 16 kHz PCM is not among them.
 */
export const MODEL_MEDIA_FORMATS: Readonly<Record<string, ModelAudioFormat>> = {
  "raw/lpcm16_24": { type: "audio/pcm", rate: 24_000 },
  "raw/mulaw": { type: "audio/pcmu" },
  "raw/alaw": { type: "audio/pcma" },
};

/**
 * The first of the platform's formats that the bridge supports (with a model: one of
 * MODEL_MEDIA_FORMATS); when the platform listed none, raw/lpcm16 (with a model, raw/lpcm16_24).
 */
export function chooseMediaFormat(offered: readonly string[] | undefined, withModel = false): string | undefined {
  const supported: readonly string[] = withModel ? Object.keys(MODEL_MEDIA_FORMATS) : SUPPORTED_MEDIA_FORMATS;
  if (!offered || offered.length === 0) return supported[0];
  return offered.find((f) => supported.includes(f));
}

/** Parses one text frame; undefined when it is not a JSON object with a string `type`. */
export function parsePlatformMessage(text: string): PlatformMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || typeof (value as { type?: unknown }).type !== "string") return undefined;
  return value as PlatformMessage;
}

/** A DTMF event's digit(s), accepting the Bot API's `{type:"event", name:"DTMF"}` and a plain `{type:"dtmf"}`. */
export function dtmfOf(activity: Activity | { type: string; name?: string; value?: unknown }): string | undefined {
  const isDtmf = (activity.type === "event" && activity.name?.toUpperCase() === "DTMF") || activity.type === "dtmf";
  return isDtmf && activity.value !== undefined ? String(activity.value) : undefined;
}

export function isHangup(activity: { type: string; name?: string }): boolean {
  return (activity.type === "event" && activity.name?.toLowerCase() === "hangup") || activity.type === "hangup";
}
