import type { BridgeMessage } from "./protocol.js";

/** μ-law at 8 kHz: one byte per sample, 8 bytes per millisecond. */
const BYTES_PER_MS = 8;

/**
 * The model's answers played to the caller, and how much of each the caller has heard. Each chunk
 * goes out as a `media` message followed by a `mark`; Twilio echoes a mark once the audio before
 * it has played, so the echoed marks say exactly how far playback got. On barge-in the bridge
 * sends `clear` (Twilio drops what it had not played) and tells the model how much was heard.
 */
export class TwilioPlayback {
  /** The answer being played, and the bytes of it sent and confirmed played. */
  private current: { itemId: string; sent: number; played: number } | undefined;
  /** Marks sent and not yet echoed: name → bytes of the answer played once it comes back. */
  private readonly pending = new Map<string, { itemId: string; playedAfter: number }>();
  private marks = 0;

  constructor(
    private readonly send: (message: BridgeMessage) => void,
    private readonly streamSid: () => string,
  ) {}

  /** One chunk of the answer `itemId`, in μ-law. */
  chunk(audio: Buffer, itemId: string): void {
    if (this.current?.itemId !== itemId) this.current = { itemId, sent: 0, played: 0 };
    this.current.sent += audio.length;
    const name = `${itemId}.${++this.marks}`;
    this.pending.set(name, { itemId, playedAfter: this.current.sent });
    this.send({ event: "media", streamSid: this.streamSid(), media: { payload: audio.toString("base64") } });
    this.send({ event: "mark", streamSid: this.streamSid(), mark: { name } });
  }

  /**
   * The answer's audio is all sent: a last mark, `<item id>.end`, comes back once the caller has
   * heard all of it (and tells a test where one answer ends).
   */
  done(itemId: string): void {
    if (this.current?.itemId !== itemId) return;
    const name = `${itemId}.end`;
    this.pending.set(name, { itemId, playedAfter: this.current.sent });
    this.send({ event: "mark", streamSid: this.streamSid(), mark: { name } });
  }

  /** Twilio echoed a mark: the audio before it has played. */
  played(name: string): void {
    const mark = this.pending.get(name);
    if (!mark) return; // cleared, or not ours
    this.pending.delete(name);
    if (this.current?.itemId === mark.itemId) this.current.played = Math.max(this.current.played, mark.playedAfter);
  }

  /**
   * The caller began to speak. If an answer is still playing, Twilio is told to drop the rest and
   * the answer is returned with how much of it was heard; otherwise undefined (nothing to cut).
   */
  bargeIn(): { itemId: string; playedMs: number } | undefined {
    const current = this.current;
    if (!current || current.played >= current.sent) return undefined;
    this.send({ event: "clear", streamSid: this.streamSid() });
    this.pending.clear();
    this.current = undefined;
    return { itemId: current.itemId, playedMs: current.played / BYTES_PER_MS };
  }
}
