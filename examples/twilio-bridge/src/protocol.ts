/**
 * Twilio Media Streams (bidirectional, `<Connect><Stream>`): JSON text frames over one WebSocket
 * per stream, each with an `event` discriminator. Only the fields this example reads or writes
 * are typed; Twilio sends more. Audio is G.711 μ-law at 8 kHz, base64, both ways.
 */

/** Twilio → bridge. */
export type TwilioMessage =
  | { event: "connected"; protocol?: string; version?: string }
  | {
      event: "start";
      sequenceNumber?: string;
      streamSid: string;
      start: {
        streamSid: string;
        accountSid?: string;
        callSid: string;
        tracks?: string[];
        customParameters?: Record<string, string>;
        mediaFormat?: { encoding: string; sampleRate: number; channels: number };
      };
    }
  | { event: "media"; sequenceNumber?: string; streamSid: string; media: { track?: string; chunk?: string; timestamp?: string; payload: string } }
  | { event: "dtmf"; sequenceNumber?: string; streamSid: string; dtmf: { track?: string; digit: string } }
  | { event: "mark"; sequenceNumber?: string; streamSid: string; mark: { name: string } }
  | { event: "stop"; sequenceNumber?: string; streamSid: string; stop?: { accountSid?: string; callSid?: string } };

/** Bridge → Twilio. */
export type BridgeMessage =
  | { event: "media"; streamSid: string; media: { payload: string } }
  | { event: "mark"; streamSid: string; mark: { name: string } }
  | { event: "clear"; streamSid: string };

export type TwilioEvent = TwilioMessage["event"];
export type BridgeEvent = BridgeMessage["event"];

/** What the session records as its media format: Twilio streams nothing else. */
export const TWILIO_MEDIA_FORMAT = "audio/x-mulaw;rate=8000";

/** Parses one text frame; undefined when it is not a JSON object with a string `event`. */
export function parseTwilioMessage(text: string): TwilioMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || typeof (value as { event?: unknown }).event !== "string") return undefined;
  return value as TwilioMessage;
}
