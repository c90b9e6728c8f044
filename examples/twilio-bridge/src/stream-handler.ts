import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { WebSocket } from "ws";
import { type BridgeUpdateStream, errorReasonOf, REALTIME_SESSION_KEY, type Session, type SessionStoreClient, SessionStatus, SessionView, type UpdateParts } from "sessionstore-client";
import { ModelCall, type ModelAudioFormat, type ModelOptions, realtimeSessionConfig } from "../../model-session/src/model-call.js";
import { TwilioPlayback } from "./playback.js";
import { type BridgeMessage, parseTwilioMessage, TWILIO_MEDIA_FORMAT, type TwilioMessage } from "./protocol.js";

/** What every stream of one bridge process shares. */
export interface TwilioContext {
  client: SessionStoreClient;
  updates: BridgeUpdateStream;
  ownerId: string;
  model: ModelOptions;
  /** The stream handler that owns each call (by callSid) in this process now. */
  calls: Map<string, StreamHandler>;
  log: Logger;
}

type State = "new" | "live" | "ended" | "fenced" | "superseded" | "closed";

const MULAW: ModelAudioFormat = { type: "audio/pcmu" };

/**
 * How long a lost stream's model session is kept to record what was still on its way (the
 * transcript of the caller's last words completes after the answer), unless a new stream of the
 * call reaches this process first.
 */
const MODEL_DRAIN_MS = 2_000;

/**
 * One Media Stream: one WebSocket from `start` to `stop` (or the socket's loss). Twilio never
 * reconnects a stream; when a call's stream breaks, the application starts a new
 * `<Connect><Stream>` on the same call, so the session is keyed by callSid and every `start` is a
 * ResumeSession with create_if_missing: the first stream of a call creates it, any later one
 * (on this bridge or another) resumes it and replays its conversation into a new model session.
 * Messages are handled one at a time in arrival order, so the call's writes keep that order.
 */
export class StreamHandler {
  private state: State = "new";
  private callSid = "";
  private streamSid = "";
  private ownerEpoch = 0n;
  private model: ModelCall | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly playback = new TwilioPlayback(
    (m) => this.send(m),
    () => this.streamSid,
  );
  private readonly log: Logger;

  constructor(
    private readonly ws: WebSocket,
    private readonly ctx: TwilioContext,
  ) {
    this.log = ctx.log.child({ module: "stream" });
    ws.on("message", (data, isBinary) => {
      const message = isBinary ? undefined : parseTwilioMessage(data.toString());
      if (!message) return this.log.warn("ignored a frame that is not a Media Streams message");
      this.queue = this.queue.then(() => this.handle(message)).catch((err: unknown) => this.log.error({ err, event: message.event }, "message failed"));
    });
    ws.on("close", () => void this.queue.then(() => this.pause("socket lost")));
  }

  /** Another bridge resumed the call: stop writing and hang up this stream. */
  fenced(): void {
    if (this.state !== "live") return;
    this.log.info({ callSid: this.callSid }, "session fenced: the call moved; closing its stream");
    this.state = "fenced";
    this.release();
    this.ws.close(1000, "session resumed elsewhere");
  }

  /** A newer stream of the same call reached this process. */
  superseded(): void {
    if (this.state !== "live") return;
    this.state = "superseded";
    this.model?.close();
    this.ws.close(1000, "call continued on a new stream");
  }

  /** The session ended elsewhere (an operator, or the sweeper ended it as abandoned). */
  endedElsewhere(): void {
    if (this.state !== "live") return;
    this.state = "ended";
    this.release();
    this.ws.close(1000, "session ended");
  }

  private async handle(message: TwilioMessage): Promise<void> {
    if (message.event === "connected") return;
    if (message.event === "start") return this.start(message);
    if (this.state !== "live") return;
    switch (message.event) {
      case "media":
        if (message.media.track !== undefined && message.media.track !== "inbound") return;
        return this.media(Buffer.from(message.media.payload, "base64"));
      case "dtmf":
        await this.write({ appendHistory: [{ itemId: randomUUID(), role: "user", type: "dtmf", text: message.dtmf.digit, data: { digit: message.dtmf.digit } }] });
        return;
      case "mark":
        return this.playback.played(message.mark.name);
      case "stop":
        // A stream's end is not the call's: a new stream may continue it (and --pause-grace ends it if none does).
        this.pause("stream stopped");
        this.ws.close(1000, "stream stopped");
        return;
    }
  }

  private async start(message: Extract<TwilioMessage, { event: "start" }>): Promise<void> {
    if (this.state !== "new") return this.log.warn("a second start on one stream; ignored");
    const { callSid, streamSid, customParameters = {} } = message.start;
    this.streamSid = streamSid;
    const config = realtimeSessionConfig(MULAW);
    let session: Session;
    let created: boolean;
    try {
      const answer = await this.ctx.client.resumeSession({
        conversationId: callSid,
        ownerId: this.ctx.ownerId,
        createIfMissing: true,
        view: SessionView.FULL,
        session: {
          conversationId: callSid,
          sessionId: streamSid,
          bridgeType: "twilio",
          caller: customParameters.caller ?? "",
          botName: customParameters.botName ?? "",
          mediaFormat: TWILIO_MEDIA_FORMAT,
          metadata: { [REALTIME_SESSION_KEY]: config, customParameters },
        },
      });
      session = answer.session!;
      created = answer.created;
    } catch (err) {
      // Twilio has no message for "refused": the stream is closed, and the TwiML after <Connect> runs.
      this.log.info({ callSid, reason: (err as { details?: string }).details, code: errorReasonOf(err) }, "stream refused");
      this.state = "closed";
      this.ws.close(1000, "call cannot be resumed");
      return;
    }
    this.adopt(session);
    if (created) this.write({ updateMask: { paths: ["status"] }, session: { status: SessionStatus.ACTIVE } });
    try {
      const hooks = this.modelHooks();
      this.model = created ? await ModelCall.start(this.ctx.model, hooks, MULAW, config) : await ModelCall.restore(this.ctx.model, hooks, MULAW, session, config);
    } catch (err) {
      this.log.warn({ callSid, err: err instanceof Error ? err.message : String(err) }, "model session could not be opened; closing the stream");
      this.ws.close(1011, "speech model unavailable");
      return;
    }
    this.log.info({ callSid, streamSid, created, resumedCount: session.resumedCount, ownerEpoch: String(session.ownerEpoch) }, created ? "call started" : "call resumed");
  }

  private modelHooks() {
    return {
      write: (parts: UpdateParts) => this.write(parts, this.draining()),
      audio: (chunk: Buffer, itemId: string) => this.playback.chunk(chunk, itemId),
      audioDone: (itemId: string) => this.playback.done(itemId),
      speechStarted: () => {
        const cut = this.playback.bargeIn();
        if (cut) this.model?.truncate(cut.itemId, cut.playedMs);
      },
      lost: (code: number) => {
        this.log.warn({ callSid: this.callSid, code }, "model session lost; closing the stream so the call can continue on a new one");
        this.ws.close(1011, "model session lost");
      },
      log: this.log.child({ callSid: this.callSid }),
    };
  }

  private adopt(session: Session): void {
    this.state = "live";
    this.callSid = session.conversationId;
    this.ownerEpoch = session.ownerEpoch;
    const previous = this.ctx.calls.get(this.callSid);
    this.ctx.calls.set(this.callSid, this);
    if (previous && previous !== this) previous.superseded();
    this.ctx.updates.track(session);
  }

  private async media(chunk: Buffer): Promise<void> {
    await this.ctx.updates.whenWritable();
    if (this.state !== "live") return;
    this.model?.appendAudio(chunk);
    this.write({ appendAudio: [{ data: chunk }] });
  }

  /** The stream is gone without the call's end: the call is PAUSED until a new stream resumes it. */
  private pause(why: string): void {
    if (this.state !== "live") {
      if (this.state === "new") this.state = "closed";
      return;
    }
    this.state = "closed";
    this.log.info({ callSid: this.callSid, why }, "stream gone; call paused until a new stream resumes it");
    this.write({ updateMask: { paths: ["status"] }, session: { status: SessionStatus.PAUSED } }, true);
    setTimeout(() => this.release(), MODEL_DRAIN_MS).unref();
  }

  /** Paused by this handler and not taken over by a newer stream in this process: the model's last events are still recorded. */
  private draining(): boolean {
    return this.state === "closed" && this.ctx.calls.get(this.callSid) === this;
  }

  /** Writes with this stream's epoch; resolves with the ack, or undefined when refused. */
  private write(parts: UpdateParts, evenIfClosed = false): Promise<unknown> {
    if (this.state !== "live" && !evenIfClosed) return Promise.resolve(undefined);
    return this.ctx.updates.write(this.callSid, parts, { ownerEpoch: this.ownerEpoch }).catch((err: unknown) => {
      this.log.debug({ callSid: this.callSid, reason: errorReasonOf(err) }, "write refused");
      return undefined;
    });
  }

  private release(): void {
    this.model?.close();
    this.model = undefined;
    if (this.ctx.calls.get(this.callSid) !== this) return;
    this.ctx.calls.delete(this.callSid);
    this.ctx.updates.untrack(this.callSid);
  }

  private send(message: BridgeMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }
}
