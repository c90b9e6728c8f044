import type { Logger } from "pino";
import type { WebSocket } from "ws";
import {
  type BridgeUpdateStream,
  REALTIME_SESSION_KEY,
  errorReasonOf,
  type Session,
  type SessionStoreClient,
  SessionStatus,
  SessionView,
  type UpdateParts,
} from "sessionstore-client";
import { type ModelCall, type ModelOptions, realtimeSessionConfig } from "../../model-session/src/model-call.js";
import { DtmfBot } from "./bot.js";
import { openCallModel } from "./call-model.js";
import { historyItem as item } from "./history-item.js";
import { PlayStreams } from "./play-streams.js";
import { type Activity, type BotMessage, chooseMediaFormat, dtmfOf, isHangup, MODEL_MEDIA_FORMATS, type PlatformMessage, parsePlatformMessage, RESUME_FAILED } from "./protocol.js";

export type ResumeReply = "accepted" | "resumed";

/** What every call of one bridge process shares. */
export interface BridgeContext {
  client: SessionStoreClient;
  updates: BridgeUpdateStream;
  ownerId: string;
  resumeReply: ResumeReply;
  /** The call handler that owns each conversation in this process now. */
  calls: Map<string, CallHandler>;
  /** The speech model each call talks to; without one, the DTMF bot answers (offline mode). */
  model: ModelOptions | undefined;
  log: Logger;
}

type State = "new" | "live" | "ended" | "fenced" | "superseded" | "closed";

/** How long a lost socket's model session is kept to record what was on its way (a late transcript). */
const MODEL_DRAIN_MS = 2_000;

/**
 * One platform WebSocket: one call, from session.initiate or session.resume
 * to session.end or the socket's loss. Messages are handled one at a time in
 * arrival order, so the call's writes reach the sidecar in that order.
 *
 * What the platform is told happened has happened durably: the bot's reply
 * to a digit is sent after the history write is acknowledged, and
 * userStream.stopped after every chunk of the stream is.
 */
export class CallHandler {
  private state: State = "new";
  private conversationId = "";
  private ownerEpoch = 0n;
  private mediaFormat = "";
  private bot = new DtmfBot();
  private model: ModelCall | undefined;
  private readonly playback = new PlayStreams((m) => this.send(m), () => this.conversationId, () => this.mediaFormat);
  private queue: Promise<void> = Promise.resolve();
  /** This call's writes not yet answered. */
  private readonly writes = new Set<Promise<unknown>>();
  private readonly log: Logger;

  constructor(
    private readonly ws: WebSocket,
    private readonly ctx: BridgeContext,
  ) {
    this.log = ctx.log.child({ module: "call" });
    ws.on("message", (data, isBinary) => {
      const message = isBinary ? undefined : parsePlatformMessage(data.toString());
      if (!message) return this.log.warn("ignored a frame that is not a Bot API message");
      this.queue = this.queue.then(() => this.handle(message)).catch((err: unknown) => this.log.error({ err, type: message.type }, "message failed"));
    });
    ws.on("close", () => void this.queue.then(() => this.onSocketClosed()));
  }

  /** The sidecar fenced this call: another bridge resumed it. Stop writing and hang up this socket. */
  fenced(): void {
    if (this.state !== "live") return;
    this.log.info({ conversationId: this.conversationId }, "session fenced: the call moved; closing its socket");
    this.state = "fenced";
    this.release();
    this.ws.close(1000, "session resumed elsewhere");
  }

  /** Another socket of this same process resumed the call (the platform gave up on this one). */
  superseded(): void {
    if (this.state !== "live") return;
    this.state = "superseded";
    this.model?.close();
    this.ws.close(1000, "session resumed on another connection");
  }

  /** The session ended (another holder ended it); nothing more to write. */
  endedElsewhere(): void {
    if (this.state !== "live") return;
    this.state = "ended";
    this.release();
    this.ws.close(1000, "session ended");
  }

  private async handle(message: PlatformMessage): Promise<void> {
    switch (message.type) {
      case "session.initiate":
        return this.initiate(message);
      case "session.resume":
        return this.resume(message.conversationId);
      case "connection.validate":
        return this.send({ type: "connection.validated", conversationId: message.conversationId ?? this.conversationId, success: true });
      default:
        break;
    }
    if (this.state !== "live") return this.log.warn({ type: message.type, state: this.state }, "no live session on this socket; message ignored");
    switch (message.type) {
      case "userStream.start":
        return this.send({ type: "userStream.started", conversationId: this.conversationId });
      case "userStream.chunk":
        return this.audio(message.audioChunk);
      case "userStream.stop":
        await this.settled();
        return this.send({ type: "userStream.stopped", conversationId: this.conversationId });
      case "activities":
        for (const activity of message.activities ?? []) await this.activity(activity);
        return;
      case "session.end":
        return this.end(message.reason ?? message.reasonCode ?? "session.end");
    }
  }

  private async initiate(message: Extract<PlatformMessage, { type: "session.initiate" }>): Promise<void> {
    if (this.state !== "new") return this.log.warn("session.initiate on a socket that already has a session; ignored");
    const mediaFormat = chooseMediaFormat(message.supportedMediaFormats, this.ctx.model !== undefined);
    if (!mediaFormat) return this.refuse(message.conversationId, `None of the media formats ${JSON.stringify(message.supportedMediaFormats)} is supported`);
    let session: Session;
    try {
      const created = await this.ctx.client.createSession({
        ownerId: this.ctx.ownerId,
        session: {
          conversationId: message.conversationId,
          bridgeType: "audiocodes",
          botName: message.botName ?? "",
          caller: message.caller ?? "",
          mediaFormat,
          metadata: {
            expectAudioMessages: message.expectAudioMessages ?? true,
            ...(this.ctx.model ? { [REALTIME_SESSION_KEY]: realtimeSessionConfig(MODEL_MEDIA_FORMATS[mediaFormat]!) } : {}),
          },
        },
      });
      session = created.session!;
    } catch (err) {
      return this.refuse(message.conversationId, (err as { details?: string }).details ?? String(err));
    }
    this.adopt(session);
    this.write({ updateMask: { paths: ["status"] }, session: { status: SessionStatus.ACTIVE } });
    if (this.ctx.model && !(await this.openModel(session, false))) return;
    this.log.info({ conversationId: this.conversationId, mediaFormat }, "call accepted");
    this.send({ type: "session.accepted", conversationId: this.conversationId, mediaFormat });
  }

  private async resume(conversationId: string): Promise<void> {
    if (this.state !== "new") return this.log.warn("session.resume on a socket that already has a session; ignored");
    let session: Session;
    try {
      const resumed = await this.ctx.client.resumeSession({ conversationId, ownerId: this.ctx.ownerId, view: SessionView.FULL });
      session = resumed.session!;
    } catch (err) {
      // The sidecar's message for a refused resume is the plan's reason text ("Session not found", …).
      const reason = (err as { details?: string }).details ?? "Internal server error";
      this.log.info({ conversationId, reason, code: errorReasonOf(err) }, "resume refused");
      return this.refuse(conversationId, reason, RESUME_FAILED);
    }
    this.adopt(session);
    this.bot = new DtmfBot(session.conversationHistory);
    if (this.ctx.model && !(await this.openModel(session, true))) return;
    this.log.info({ conversationId, resumedCount: session.resumedCount, ownerEpoch: String(session.ownerEpoch) }, "call resumed");
    const type = this.ctx.resumeReply === "resumed" ? "session.resumed" : "session.accepted";
    this.send({ type, conversationId, mediaFormat: this.mediaFormat });
  }

  /** The call's model session, opened before session.accepted so the caller's first words reach a ready model; else session.error. */
  private async openModel(session: Session, resumed: boolean): Promise<boolean> {
    const opened = await openCallModel(this.ctx.model!, session, resumed, {
      mediaFormat: this.mediaFormat,
      // While the lost socket drains (see MODEL_DRAIN_MS), unless a newer socket took the call.
      write: (parts) => this.write(parts, this.state === "closed" && this.ctx.calls.get(this.conversationId) === this),
      playback: this.playback,
      // The platform's reconnect resumes the call with a new model session.
      lost: () => this.ws.close(1011, "model session lost"),
      log: this.log.child({ conversationId: this.conversationId }),
    });
    if ("refused" in opened) {
      this.refuse(this.conversationId, opened.refused, resumed ? RESUME_FAILED : undefined);
      return false;
    }
    this.model = opened;
    return true;
  }

  private adopt(session: Session): void {
    this.state = "live";
    this.conversationId = session.conversationId;
    this.ownerEpoch = session.ownerEpoch;
    this.mediaFormat = session.mediaFormat || "raw/lpcm16";
    const previous = this.ctx.calls.get(this.conversationId);
    this.ctx.calls.set(this.conversationId, this);
    if (previous && previous !== this) previous.superseded();
    this.ctx.updates.track(session);
  }

  private async audio(base64: string): Promise<void> {
    await this.ctx.updates.whenWritable();
    if (this.state !== "live") return;
    const chunk = Buffer.from(base64, "base64");
    this.model?.appendAudio(chunk);
    this.write({ appendAudio: [{ data: chunk }] });
  }

  private async activity(activity: Activity): Promise<void> {
    if (this.state !== "live") return;
    const digit = dtmfOf(activity);
    if (digit !== undefined && this.model) {
      // With a model, a digit is the caller's input on record, not a question for the DTMF bot.
      await this.write({ appendHistory: [item("user", "dtmf", digit, { digit })] });
      return;
    }
    if (digit !== undefined) {
      const reply = this.bot.answer(digit);
      const heard = item("user", "dtmf", digit, { digit });
      const said = item("assistant", "message", reply.text, { replyNumber: reply.replyNumber });
      const ack = await this.write({ appendHistory: [heard, said], updateMask: { paths: ["current_turn"] }, session: { currentTurn: reply.replyNumber } });
      if (!ack) return; // refused (fenced or ended): the platform hears nothing from this bridge any more
      const activities: Activity[] = [
        { type: "message", id: said.itemId, timestamp: new Date().toISOString(), text: reply.text, parameters: { replyNumber: reply.replyNumber } },
      ];
      return this.send({ type: "activities", conversationId: this.conversationId, activities });
    }
    if (isHangup(activity)) return this.end("caller hung up");
    await this.write({ appendHistory: [item("user", "event", activity.name ?? activity.type, { value: activity.value === undefined ? null : JSON.stringify(activity.value) })] });
  }

  private async end(reason: string): Promise<void> {
    await this.settled();
    try {
      await this.ctx.client.endSession({ conversationId: this.conversationId, reason, ownerEpoch: this.ownerEpoch });
      this.log.info({ conversationId: this.conversationId, reason }, "call ended");
    } catch (err) {
      this.log.warn({ conversationId: this.conversationId, code: errorReasonOf(err) }, "EndSession refused");
    }
    this.state = "ended";
    this.release();
    this.ws.close(1000, "session ended");
  }

  /** The platform's socket is gone without session.end: the call is PAUSED until it resumes somewhere. */
  private onSocketClosed(): void {
    if (this.state !== "live") {
      if (this.state === "new") this.state = "closed";
      return;
    }
    this.state = "closed";
    this.log.info({ conversationId: this.conversationId }, "socket lost; call paused until resumed");
    this.write({ updateMask: { paths: ["status"] }, session: { status: SessionStatus.PAUSED } }, true);
    if (this.model) setTimeout(() => this.release(), MODEL_DRAIN_MS).unref();
    else this.release();
  }

  /**
   * Writes with this handler's epoch (never a later one this process got for
   * the same call on another socket), resolving with the ack or undefined
   * when it was refused.
   */
  private write(parts: UpdateParts, evenIfClosed = false): Promise<unknown> {
    if (this.state !== "live" && !evenIfClosed) return Promise.resolve(undefined);
    const written = this.ctx.updates.write(this.conversationId, parts, { ownerEpoch: this.ownerEpoch }).catch((err: unknown) => {
      this.log.debug({ conversationId: this.conversationId, reason: errorReasonOf(err) }, "write refused");
      return undefined;
    });
    this.writes.add(written);
    void written.finally(() => this.writes.delete(written));
    return written;
  }

  /** Waits until every write of this call made so far is answered. */
  private async settled(): Promise<void> {
    await Promise.all([...this.writes]);
  }

  /** Stops writing for the call, unless a newer socket of this process took it over. */
  private release(): void {
    this.model?.close();
    this.model = undefined;
    if (this.ctx.calls.get(this.conversationId) !== this) return;
    this.ctx.calls.delete(this.conversationId);
    this.ctx.updates.untrack(this.conversationId);
  }

  private refuse(conversationId: string, reason: string, errorCode?: string): void {
    this.send({ type: "session.error", conversationId, reason, ...(errorCode ? { errorCode } : {}) });
    this.ws.close(1000, "session refused");
  }

  private send(message: BotMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }
}
