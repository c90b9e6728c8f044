/**
 * "Speech" that the mock Realtime server can recognise and the mock platforms can hear, so a test
 * can say what the caller said and check what the caller heard, end to end through a bridge that
 * only relays bytes. Text is carried in the audio itself: every byte of the UTF-8 text becomes one
 * sample that is not silence, and silence is the codec's own silent sample. The bridges never look
 * inside the audio, so they are tested with it exactly as with a caller's voice.
 *
 * Codecs are the Realtime API's audio format types: `audio/pcm` (PCM16 little-endian, 24 kHz) and
 * `audio/pcmu` (G.711 μ-law, 8 kHz, what Twilio streams). UTF-8 never contains 0xFF, the μ-law
 * silent byte, and a PCM16 speech sample is 0x01NN (never the silent 0x0000).
 */

export type SpeechCodec = "audio/pcm" | "audio/pcmu";

/** Samples per second and bytes per sample of each codec. */
const FORMATS: Record<SpeechCodec, { rate: number; bytesPerSample: number }> = {
  "audio/pcm": { rate: 24_000, bytesPerSample: 2 },
  "audio/pcmu": { rate: 8_000, bytesPerSample: 1 },
};

export function bytesPerMs(codec: SpeechCodec): number {
  const f = FORMATS[codec];
  return (f.rate * f.bytesPerSample) / 1000;
}

/** Audio carrying `text`, with no silence: what a model's answer sounds like. */
export function speak(text: string, codec: SpeechCodec): Buffer {
  const bytes = Buffer.from(text, "utf8");
  if (codec === "audio/pcmu") return bytes;
  const out = Buffer.alloc(bytes.length * 2);
  for (const [i, b] of bytes.entries()) out.writeUInt16LE(0x0100 | b, i * 2);
  return out;
}

/** One frame of silence. */
export function silence(codec: SpeechCodec, frameMs = 20): Buffer {
  const size = frameMs * bytesPerMs(codec);
  return codec === "audio/pcmu" ? Buffer.alloc(size, 0xff) : Buffer.alloc(size, 0);
}

/**
 * A caller saying `text`: frames of `frameMs` with the text spread over them (each padded with
 * silence), then `trailingSilenceFrames` silent frames that end the turn for a voice detector.
 */
export function utteranceFrames(text: string, codec: SpeechCodec, frameMs = 20, trailingSilenceFrames = 2): Buffer[] {
  const frameBytes = frameMs * bytesPerMs(codec);
  const voice = speak(text, codec);
  const frames: Buffer[] = [];
  for (let at = 0; at < voice.length; at += frameBytes) {
    const frame = silence(codec, frameMs);
    voice.copy(frame, 0, at, Math.min(at + frameBytes, voice.length));
    frames.push(frame);
  }
  for (let i = 0; i < trailingSilenceFrames; i++) frames.push(silence(codec, frameMs));
  return frames;
}

/** The text carried by `audio`, silence skipped. */
export function hear(audio: Buffer, codec: SpeechCodec): string {
  const bytes: number[] = [];
  if (codec === "audio/pcmu") {
    for (const b of audio) if (b !== 0xff) bytes.push(b);
  } else {
    for (let i = 0; i + 1 < audio.length; i += 2) {
      const sample = audio.readUInt16LE(i);
      if (sample !== 0) bytes.push(sample & 0xff);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** True when the chunk holds nothing but silence. */
export function isSilent(audio: Buffer, codec: SpeechCodec): boolean {
  return hear(audio, codec) === "";
}
