import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import { Command } from "commander";
import { WebSocket } from "ws";
import type { BridgeMessage, TwilioMessage } from "../../../examples/twilio-bridge/src/protocol.js";
import { hear, utteranceFrames } from "../../support/mock-speech.js";

/**
 * A stand-in for Twilio's side of a bidirectional Media Stream (`<Connect><Stream>`): one
 * WebSocket per stream, `connected` then `start` (callSid, streamSid, customParameters), the
 * caller's μ-law audio as `media`, `dtmf`, and `stop`. Like Twilio it "plays" the bridge's audio
 * and echoes each `mark` once the audio before it has played — at once, unless told to hold
 * them (audio still playing, for barge-in). Twilio never reconnects a stream: a call continues on
 * a new stream with the same callSid.
 */
export class TwilioStream {
  readonly streamSid = `MZ${randomBytes(16).toString("hex")}`;
  /** Every message from the bridge, in order. */
  readonly received: BridgeMessage[] = [];
  /** Play the bridge's audio at once (echo marks immediately); false holds the marks until release(). */
  echoMarks = true;
  private held: string[] = [];
  private seq = 0;
  private chunks = 0;
  private read = 0;
  private wake: (() => void) | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(
    private readonly ws: WebSocket,
    readonly callSid: string,
  ) {
    ws.on("message", (data) => {
      const message = JSON.parse(data.toString()) as BridgeMessage;
      this.received.push(message);
      if (message.event === "mark") {
        if (this.echoMarks) this.echo(message.mark.name);
        else this.held.push(message.mark.name);
      }
      this.wake?.();
    });
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => (this.wake?.(), resolve({ code, reason: reason.toString() }))));
    ws.on("error", () => undefined);
  }

  /** Opens a stream for `callSid` and sends `connected` and `start`. */
  static async open(url: string, callSid: string, customParameters: Record<string, string> = {}): Promise<TwilioStream> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const stream = new TwilioStream(ws, callSid);
    stream.send({ event: "connected", protocol: "Call", version: "1.0.0" });
    stream.send({
      event: "start",
      streamSid: stream.streamSid,
      start: {
        streamSid: stream.streamSid,
        accountSid: "AC00000000000000000000000000000000",
        callSid,
        tracks: ["inbound"],
        customParameters,
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
      },
    });
    return stream;
  }

  /** The caller says `text` (20 ms μ-law frames, then the silence that ends a turn); returns the frames. */
  say(text: string): Buffer[] {
    const frames = utteranceFrames(text, "audio/pcmu");
    for (const frame of frames) {
      this.chunks += 1;
      this.send({ event: "media", streamSid: this.streamSid, media: { track: "inbound", chunk: String(this.chunks), timestamp: String(this.chunks * 20), payload: frame.toString("base64") } });
    }
    return frames;
  }

  dtmf(digit: string): void {
    this.send({ event: "dtmf", streamSid: this.streamSid, dtmf: { track: "inbound_track", digit } });
  }

  /** The bot's next answer: its media up to the mark that ends it (`<item id>.end`), decoded. */
  async nextAnswer(): Promise<{ text: string; audio: Buffer; cleared: boolean }> {
    const audio: Buffer[] = [];
    for (;;) {
      const message = await this.next();
      if (message.event === "media") audio.push(Buffer.from(message.media.payload, "base64"));
      else if (message.event === "clear") return { text: hear(Buffer.concat(audio), "audio/pcmu"), audio: Buffer.concat(audio), cleared: true };
      else if (message.mark.name.endsWith(".end")) return { text: hear(Buffer.concat(audio), "audio/pcmu"), audio: Buffer.concat(audio), cleared: false };
    }
  }

  /** Plays (echoes) the first `count` held marks, as if that much audio had been heard. */
  release(count: number): void {
    for (const name of this.held.splice(0, count)) this.echo(name);
  }

  /** Ends the stream as Twilio does when the call or the <Stream> ends. */
  async stop(): Promise<void> {
    this.send({ event: "stop", streamSid: this.streamSid, stop: { accountSid: "AC00000000000000000000000000000000", callSid: this.callSid } });
    await this.closed;
  }

  /** Breaks the connection with no stop, as a network failure would. */
  drop(): void {
    this.ws.terminate();
  }

  private async next(): Promise<BridgeMessage> {
    while (this.read >= this.received.length) {
      if (this.ws.readyState !== WebSocket.OPEN) throw new Error("stream closed while waiting for the bot");
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    return this.received[this.read++]!;
  }

  private echo(name: string): void {
    this.send({ event: "mark", streamSid: this.streamSid, mark: { name } });
  }

  private send(message: TwilioMessage): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.seq += 1;
    this.ws.send(JSON.stringify({ sequenceNumber: String(this.seq), ...message }));
  }
}

/** The CLI's call: a stream, a question and an order lookup, the stream breaks, a new stream continues the call. */
async function runScenario(o: { url: string; resumeUrl: string; callSid: string }, say: (line: string) => void): Promise<void> {
  say(`call ${o.callSid}: stream 1 on ${o.url}`);
  const first = await TwilioStream.open(o.url, o.callSid, { caller: "+15550100" });
  say(`bot: "${(await first.nextAnswer()).text}"`);
  for (const line of ["hello there", "where is order a-1001"]) {
    first.say(line);
    say(`caller: "${line}" → bot: "${(await first.nextAnswer()).text}"`);
  }
  first.drop();
  say("stream 1 broke without stop");
  const second = await TwilioStream.open(o.resumeUrl, o.callSid, { caller: "+15550100" });
  say(`call ${o.callSid}: stream 2 on ${o.resumeUrl} → bot: "${(await second.nextAnswer()).text}"`);
  second.say("and my order");
  const answer = (await second.nextAnswer()).text;
  say(`caller: "and my order" → bot: "${answer}"`);
  if (!answer.includes("Order A-1001 is shipped.")) throw new Error("the new model session did not know the conversation before the break");
  say("the model went on with the conversation from before the break");
  await second.stop();
  say("stream 2 stopped");
}

async function main(argv: string[]): Promise<void> {
  const opts = new Command("mock-twilio")
    .description("Streams one call to a Twilio Media Streams bridge, breaks the stream, continues the call on a new one, and checks it went on")
    .option("--url <url>", "bridge WebSocket URL", "ws://127.0.0.1:8090")
    .option("--resume-url <url>", "where the second stream goes (default: --url)")
    .option("--call-sid <sid>", "the call's CallSid", `CA${randomBytes(16).toString("hex")}`)
    .parse(argv)
    .opts<{ url: string; resumeUrl?: string; callSid: string }>();
  await runScenario({ url: opts.url, resumeUrl: opts.resumeUrl ?? opts.url, callSid: opts.callSid }, (line) => console.log(line));
  console.log("OK");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv).then(
    () => process.exit(0),
    (err: unknown) => {
      console.log(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
