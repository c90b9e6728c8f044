import type { Logger } from "pino";
import type { Session, UpdateParts } from "sessionstore-client";
import { ModelCall, type ModelOptions, realtimeSessionConfig } from "../../model-session/src/model-call.js";
import type { PlayStreams } from "./play-streams.js";
import { MODEL_MEDIA_FORMATS } from "./protocol.js";

/** What a call lends its model session. */
export interface CallModelHost {
  /** The call's media format (one of MODEL_MEDIA_FORMATS when the platform offered one). */
  mediaFormat: string;
  /** Writes one update of the call; resolves with the ack, or undefined when refused or not allowed any more. */
  write(parts: UpdateParts): Promise<unknown>;
  /** Where the model's answers are played. */
  playback: PlayStreams;
  /** The model's socket closed on its own. */
  lost(code: number): void;
  log: Logger;
}

/**
 * Opens the model session of an AudioCodes call: a new one configured as the call's stored
 * realtime_session says, or, for a resume, a new one given the stored conversation. Resolves with
 * what the platform is told when it cannot be done.
 */
export async function openCallModel(options: ModelOptions, session: Session, resumed: boolean, host: CallModelHost): Promise<ModelCall | { refused: string }> {
  const format = MODEL_MEDIA_FORMATS[host.mediaFormat];
  // A call started offline (or before --model-url was set) may be in a format the model cannot take.
  if (!format) return { refused: `Media format ${host.mediaFormat} cannot be relayed to the model` };
  const config = realtimeSessionConfig(format);
  const hooks = {
    write: host.write,
    audio: (chunk: Buffer, itemId: string) => host.playback.chunk(chunk, itemId),
    audioDone: (itemId: string) => host.playback.done(itemId),
    speechStarted: () => host.playback.stop(),
    lost: (code: number) => {
      host.log.warn({ code }, "model session lost; closing the platform socket so the call resumes");
      host.lost(code);
    },
    log: host.log,
  };
  try {
    return resumed ? await ModelCall.restore(options, hooks, format, session, config) : await ModelCall.start(options, hooks, format, config);
  } catch (err) {
    host.log.warn({ err: err instanceof Error ? err.message : String(err) }, "model session could not be opened");
    return { refused: "The speech model is unavailable" };
  }
}
