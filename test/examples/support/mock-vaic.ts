import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { Command } from "commander";
import { WebSocket } from "ws";
import type { Activity, BotMessage, BotMessageType, PlatformMessage } from "../../../examples/audiocodes-bridge/src/protocol.js";

/**
 * A stand-in for AudioCodes VoiceAI Connect: it places calls on a bridge the
 * way the platform does (one WebSocket per call, Bot API streaming mode),
 * and, like the platform after a network break, reconnects a call and sends
 * session.resume with the same conversationId.
 */

/** One WebSocket to a bridge, with its bot messages queued until asked for. */
export class PlatformSocket {
  private readonly inbox: BotMessage[] = [];
  private readonly waiters: { types: readonly BotMessageType[]; resolve: (m: BotMessage) => void; reject: (e: Error) => void }[] = [];
  private closeInfo: { code: number; reason: string } | undefined;
  /** Resolves when the socket closes, from either side. */
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(private readonly ws: WebSocket) {
    ws.on("message", (data) => this.receive(JSON.parse(data.toString()) as BotMessage));
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const w of this.waiters.splice(0)) w.reject(new Error(`socket closed (${code} ${reason.toString()}) while waiting for ${w.types.join(" | ")}`));
        resolve(this.closeInfo);
      });
    });
    ws.on("error", () => undefined); // a failed connect rejects open(); later errors end in "close"
  }

  static open(url: string): Promise<PlatformSocket> {
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(new PlatformSocket(ws)));
      ws.once("error", reject);
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(message: PlatformMessage): void {
    this.ws.send(JSON.stringify(message));
  }

  /** The next bot message of one of these types (others stay queued); rejects if the socket closes first. */
  next<T extends BotMessageType>(...types: T[]): Promise<Extract<BotMessage, { type: T }>> {
    const index = this.inbox.findIndex((m) => (types as BotMessageType[]).includes(m.type));
    if (index >= 0) return Promise.resolve(this.inbox.splice(index, 1)[0] as Extract<BotMessage, { type: T }>);
    if (this.closeInfo) return Promise.reject(new Error(`socket closed (${this.closeInfo.code}) while waiting for ${types.join(" | ")}`));
    return new Promise((resolve, reject) => this.waiters.push({ types, resolve: resolve as (m: BotMessage) => void, reject }));
  }

  /** Breaks the connection as a network failure would: no close handshake, no session.end. */
  drop(): void {
    this.ws.terminate();
  }

  close(): void {
    this.ws.close(1000);
  }

  private receive(message: BotMessage): void {
    const index = this.waiters.findIndex((w) => w.types.includes(message.type));
    if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(message);
    else this.inbox.push(message);
  }
}

/** The bridge answered with session.error. */
export class SessionErrorReply extends Error {
  constructor(
    readonly reason: string,
    readonly errorCode: string | undefined,
  ) {
    super(`session.error: ${reason}${errorCode ? ` (${errorCode})` : ""}`);
    this.name = "SessionErrorReply";
  }
}

export interface MockCallOptions {
  conversationId?: string;
  botName?: string;
  caller?: string;
  supportedMediaFormats?: string[];
  /** Frame length; default 20 ms. */
  frameMs?: number;
  /** Default 16000 (PCM16 mono). */
  sampleRate?: number;
  /** The tone the caller "says", so that each call's audio differs; default 440 Hz. */
  toneHz?: number;
  /** Send frames at the pace of real audio (default), or as fast as the socket takes them. */
  realtime?: boolean;
}

/** One call, across as many sockets as its reconnects need. */
export class MockVaicCall {
  readonly conversationId: string;
  /** Every audio frame sent, in order. */
  readonly sentFrames: Buffer[] = [];
  /** The bot's replies, in order. */
  readonly replies: { text: string; replyNumber: number }[] = [];
  socket: PlatformSocket | undefined;
  private samplesSent = 0;

  constructor(private readonly options: MockCallOptions = {}) {
    this.conversationId = options.conversationId ?? `call-${randomUUID()}`;
  }

  /** Places the call; resolves with the media format the bot chose. */
  async initiate(url: string): Promise<string> {
    this.socket = await PlatformSocket.open(url);
    this.socket.send({
      type: "session.initiate",
      conversationId: this.conversationId,
      expectAudioMessages: true,
      botName: this.options.botName ?? "dtmf-bot",
      caller: this.options.caller ?? "+15550100",
      supportedMediaFormats: this.options.supportedMediaFormats ?? ["raw/lpcm16"],
    });
    return (await this.accepted()).mediaFormat;
  }

  /** Reconnects and resumes; resolves with the bridge's answer (session.accepted or session.resumed). */
  async resume(url: string): Promise<{ type: "session.accepted" | "session.resumed"; mediaFormat: string }> {
    this.socket = await PlatformSocket.open(url);
    this.socket.send({ type: "session.resume", conversationId: this.conversationId });
    return this.accepted();
  }

  async validate(): Promise<boolean> {
    this.current().send({ type: "connection.validate", conversationId: this.conversationId });
    return (await this.current().next("connection.validated")).success;
  }

  /** userStream.start, `frames` frames, userStream.stop; resolves on userStream.stopped (the bridge has them all stored). */
  async streamAudio(frames: number): Promise<void> {
    await this.startStream();
    await this.sendFrames(frames);
    await this.stopStream();
  }

  async startStream(): Promise<void> {
    this.current().send({ type: "userStream.start", conversationId: this.conversationId });
    await this.current().next("userStream.started");
  }

  /** Sends frames of PCM16 tone, paced like real audio unless realtime is false. */
  async sendFrames(frames: number): Promise<void> {
    const frameMs = this.options.frameMs ?? 20;
    const started = performance.now();
    for (let i = 0; i < frames; i++) {
      if (this.options.realtime ?? true) {
        const due = started + i * frameMs - performance.now();
        if (due > 0) await sleep(due);
      }
      const frame = this.nextFrame();
      this.sentFrames.push(frame);
      this.current().send({ type: "userStream.chunk", conversationId: this.conversationId, audioChunk: frame.toString("base64") });
    }
  }

  async stopStream(): Promise<void> {
    this.current().send({ type: "userStream.stop", conversationId: this.conversationId });
    await this.current().next("userStream.stopped");
  }

  /** Sends a DTMF digit; resolves with the bot's reply. */
  async dtmf(digit: string): Promise<{ text: string; replyNumber: number }> {
    this.sendDtmf(digit);
    const message = await this.current().next("activities");
    const said = message.activities.find((a) => a.type === "message");
    if (!said?.text) throw new Error(`the bot answered DTMF ${digit} without a message: ${JSON.stringify(message)}`);
    const reply = { text: said.text, replyNumber: Number(said.parameters?.replyNumber) };
    this.replies.push(reply);
    return reply;
  }

  /** Sends a DTMF digit without waiting for an answer. */
  sendDtmf(digit: string): void {
    const activity: Activity = { type: "event", name: "DTMF", value: digit, id: randomUUID(), timestamp: new Date().toISOString() };
    this.current().send({ type: "activities", conversationId: this.conversationId, activities: [activity] });
  }

  /** Drops the socket without session.end, as a network break would. */
  drop(): void {
    this.current().drop();
  }

  /** Ends the call with session.end; resolves when the bridge has closed the socket (the session is ENDED by then). */
  async end(reason = "caller hung up"): Promise<void> {
    const socket = this.current();
    socket.send({ type: "session.end", conversationId: this.conversationId, reasonCode: "client-disconnected", reason });
    await socket.closed;
  }

  private async accepted(): Promise<{ type: "session.accepted" | "session.resumed"; mediaFormat: string }> {
    const answer = await this.current().next("session.accepted", "session.resumed", "session.error");
    if (answer.type === "session.error") throw new SessionErrorReply(answer.reason, answer.errorCode);
    return { type: answer.type, mediaFormat: answer.mediaFormat };
  }

  private current(): PlatformSocket {
    if (!this.socket) throw new Error("the call has no socket: initiate() or resume() first");
    return this.socket;
  }

  private nextFrame(): Buffer {
    const rate = this.options.sampleRate ?? 16_000;
    const samples = Math.round((rate * (this.options.frameMs ?? 20)) / 1000);
    const frame = Buffer.alloc(samples * 2);
    const hz = this.options.toneHz ?? 440;
    for (let i = 0; i < samples; i++) {
      const t = (this.samplesSent + i) / rate;
      frame.writeInt16LE(Math.round(8_000 * Math.sin(2 * Math.PI * hz * t)), i * 2);
    }
    this.samplesSent += samples;
    return frame;
  }
}

interface ScenarioOptions {
  url: string;
  resumeUrl: string;
  conversationId: string;
  seconds: number;
  digits: string;
}

/** The CLI's call: talk, press digits, lose the socket, resume, check the bot went on counting, hang up. */
async function runScenario(o: ScenarioOptions, say: (line: string) => void): Promise<void> {
  const call = new MockVaicCall({ conversationId: o.conversationId });
  const frames = Math.round((o.seconds * 1000) / 20);
  const half = Math.ceil(o.digits.length / 2);
  say(`placing call ${call.conversationId} on ${o.url}`);
  say(`session.accepted, mediaFormat ${await call.initiate(o.url)}`);
  say(`connection.validated: ${await call.validate()}`);
  await call.streamAudio(frames);
  say(`streamed ${frames} frames (${o.seconds} s of 16 kHz PCM16) in real time; userStream.stopped`);
  for (const digit of o.digits.slice(0, half)) say(`DTMF ${digit} → bot: "${(await call.dtmf(digit)).text}"`);
  const before = call.replies.at(-1)?.replyNumber ?? 0;

  call.drop();
  say("dropped the socket without session.end");
  const answer = await call.resume(o.resumeUrl);
  say(`reconnected to ${o.resumeUrl}: session.resume → ${answer.type}, mediaFormat ${answer.mediaFormat}`);

  for (const digit of o.digits.slice(half)) say(`DTMF ${digit} → bot: "${(await call.dtmf(digit)).text}"`);
  const numbers = call.replies.map((r) => r.replyNumber);
  const expected = call.replies.map((_, i) => i + 1);
  if (JSON.stringify(numbers) !== JSON.stringify(expected)) throw new Error(`the conversation did not go on: reply numbers ${numbers} (expected ${expected})`);
  if (o.digits.length > half) say(`the bot went on from reply ${before} after the resume: the conversation survived the drop`);
  await call.end();
  say("session.end sent; the bridge closed the socket");
}

async function main(argv: string[]): Promise<void> {
  const opts = new Command("mock-vaic")
    .description("Places one call on an AudioCodes Bot API bridge, drops it mid-call, resumes it, and checks it went on")
    .option("--url <url>", "bridge WebSocket URL", "ws://127.0.0.1:8080")
    .option("--resume-url <url>", "where to reconnect after the drop (default: --url)")
    .option("--conversation-id <id>", "the call's conversationId", `mock-${randomUUID()}`)
    .option("--seconds <n>", "seconds of audio to stream before the DTMF", (v) => Number(v), 1)
    .option("--digits <digits>", "DTMF digits to press, half before and half after the drop", "1234")
    .parse(argv)
    .opts<{ url: string; resumeUrl?: string; conversationId: string; seconds: number; digits: string }>();
  await runScenario({ ...opts, resumeUrl: opts.resumeUrl ?? opts.url }, (line) => console.log(line));
  console.log("OK");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
