import type { BotMessage } from "./protocol.js";

/**
 * The model's answers as the Bot API's bot audio: each answer is one play stream
 * (playStream.start, its chunks, playStream.stop), its streamId the model's item id, so the
 * platform's logs and the sidecar's history name the same answer. A caller who starts speaking
 * stops the stream that is playing (barge-in); the platform drops what it had not played yet.
 */
export class PlayStreams {
  private playing: string | undefined;

  constructor(
    private readonly send: (message: BotMessage) => void,
    private readonly conversationId: () => string,
    private readonly mediaFormat: () => string,
  ) {}

  /** One chunk of the answer `itemId`; opens its stream first, stopping any other still open. */
  chunk(audio: Buffer, itemId: string): void {
    if (this.playing !== itemId) {
      this.stop();
      this.playing = itemId;
      this.send({ type: "playStream.start", conversationId: this.conversationId(), streamId: itemId, mediaFormat: this.mediaFormat() });
    }
    this.send({ type: "playStream.chunk", conversationId: this.conversationId(), streamId: itemId, audioChunk: audio.toString("base64") });
  }

  /** The answer's audio is complete. */
  done(itemId: string): void {
    if (this.playing === itemId) this.stop();
  }

  /** Stops the open stream, if any (end of an answer, or barge-in). */
  stop(): void {
    if (this.playing === undefined) return;
    this.send({ type: "playStream.stop", conversationId: this.conversationId(), streamId: this.playing });
    this.playing = undefined;
  }
}
