import type { MockVaicCall } from "./mock-vaic.js";
import { hear, type SpeechCodec, utteranceFrames } from "../../support/mock-speech.js";

/**
 * The caller's side of a call with a model behind the bridge: speaking (mock speech, see
 * test/support/mock-speech.ts) inside an open user stream, and listening to the bot's play streams.
 */

/** Sends `text` as the caller's voice, then the silence that ends the turn; returns the frames sent. */
export function say(call: MockVaicCall, text: string, codec: SpeechCodec): Buffer[] {
  const frames = utteranceFrames(text, codec);
  for (const frame of frames) call.socket!.send({ type: "userStream.chunk", conversationId: call.conversationId, audioChunk: frame.toString("base64") });
  return frames;
}

export interface HeardAnswer {
  streamId: string;
  mediaFormat: string;
  text: string;
  audio: Buffer;
}

/** The bot's next answer: one play stream, start to stop, decoded back to what it said. */
export async function hearAnswer(call: MockVaicCall, codec: SpeechCodec): Promise<HeardAnswer> {
  const socket = call.socket!;
  const start = await socket.next("playStream.start");
  const chunks: Buffer[] = [];
  for (;;) {
    const message = await socket.next("playStream.chunk", "playStream.stop");
    if (message.streamId !== start.streamId) throw new Error(`a chunk of stream ${message.streamId} inside stream ${start.streamId}`);
    if (message.type === "playStream.stop") break;
    chunks.push(Buffer.from(message.audioChunk, "base64"));
  }
  const audio = Buffer.concat(chunks);
  return { streamId: start.streamId, mediaFormat: start.mediaFormat, text: hear(audio, codec), audio };
}
