import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const BRIDGE = fileURLToPath(new URL("../../../examples/audiocodes-bridge/src/bridge-server.ts", import.meta.url));
export const TWILIO_BRIDGE = fileURLToPath(new URL("../../../examples/twilio-bridge/src/bridge-server.ts", import.meta.url));
export const MOCK_TWILIO = fileURLToPath(new URL("./mock-twilio.ts", import.meta.url));
export const MOCK_REALTIME = fileURLToPath(new URL("../../support/mock-realtime-cli.ts", import.meta.url));
export const MOCK_VAIC = fileURLToPath(new URL("./mock-vaic.ts", import.meta.url));

export interface BridgeProcess {
  url: string;
  /** host:port it listens on, to restart it in the same place. */
  listen: string;
  ownerId: string;
  logs: { msg: string; [key: string]: unknown }[];
  /** Sends the signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface BridgeProcessOptions {
  sidecar: string;
  ownerId: string;
  listen?: string;
  resumeReply?: "accepted" | "resumed";
  /** --model-url: the calls talk to this Realtime endpoint instead of the DTMF bot. */
  modelUrl?: string;
  modelApiKey?: string;
  /** Which bridge: the AudioCodes one (default) or the Twilio one (which needs modelUrl). */
  platform?: "audiocodes" | "twilio";
}

/** Runs the example bridge as users do (`node --import tsx …/bridge-server.ts`) and waits for its "listening" line. */
export async function startBridgeProcess(options: BridgeProcessOptions): Promise<BridgeProcess> {
  const args = ["--import", "tsx", options.platform === "twilio" ? TWILIO_BRIDGE : BRIDGE, "--listen", options.listen ?? "127.0.0.1:0", "--sidecar", options.sidecar, "--owner-id", options.ownerId];
  if (options.resumeReply) args.push("--resume-reply", options.resumeReply);
  if (options.modelUrl) args.push("--model-url", options.modelUrl);
  if (options.modelApiKey) args.push("--model-api-key", options.modelApiKey);
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const logs: BridgeProcess["logs"] = [];
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout }).on("line", (line) => {
      try {
        const entry = JSON.parse(line) as BridgeProcess["logs"][number];
        logs.push(entry);
        if (entry.msg === "listening") resolve(String(entry.url));
      } catch {
        logs.push({ msg: `unparsed: ${line}` });
      }
    });
    void exited.then(() => reject(new Error(`bridge exited before listening: ${stderr}`)));
  });
  return {
    url,
    listen: url.replace(/^ws:\/\//, ""),
    ownerId: options.ownerId,
    logs,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

/** Runs the mock platform's CLI to completion. */
export function runMockVaic(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runScript(MOCK_VAIC, args);
}

/** Runs the mock Twilio's CLI to completion. */
export function runMockTwilio(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runScript(MOCK_TWILIO, args);
}

/** Runs the mock Realtime endpoint's CLI, as the walkthroughs do, until stopped; resolves once it listens. */
export async function startMockRealtimeProcess(args: string[]): Promise<{ url: string; stop(): Promise<void> }> {
  const proc = spawn(process.execPath, ["--import", "tsx", MOCK_REALTIME, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout }).on("line", (line) => {
      if (line.startsWith("listening ")) resolve(line.slice("listening ".length));
    });
    void exited.then(() => reject(new Error("mock realtime exited before listening")));
  });
  return {
    url,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await exited;
    },
  };
}

function runScript(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ["--import", "tsx", script, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    proc.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
