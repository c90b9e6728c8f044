import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { SessionStoreClient } from "../../src/client/index.js";

/** The CLI as users run it: the compiled bin of this checkout (`npm test` builds it first). */
export const BIN = fileURLToPath(new URL("../../bin/sessionstore.js", import.meta.url));

export interface LogLine {
  level: number;
  msg: string;
  module?: string;
  [key: string]: unknown;
}

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A real sidecar process on a free loopback port, with its parsed JSON log. */
export interface Sidecar {
  address: string;
  /** The /metrics URL from the "listening" line; undefined without --metrics-listen. */
  metricsUrl: string | undefined;
  /** The process id, for reading its resource use from /proc. */
  pid: number;
  dbPath: string;
  logs: LogLine[];
  stderr: () => string;
  client(options?: ConstructorParameters<typeof SessionStoreClient>[1]): SessionStoreClient;
  /** Sends the signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<ExitResult>;
  exited: Promise<ExitResult>;
}

export function tempDbPath(): string {
  return join(mkdtempSync(join(tmpdir(), "sessionstore-e2e-")), "sessionstore.db");
}

export interface StartOptions {
  dbPath?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Options for node itself, before the script (e.g. --cpu-prof for a benchmark). */
  nodeArgs?: string[];
  /** CPUs to pin the process to (taskset -c), e.g. "1": a benchmark's smaller machine. */
  cpus?: string;
}

/** Runs `sessionstore serve` and waits for its "listening" log line. */
export async function startSidecar(options: StartOptions = {}): Promise<Sidecar> {
  const dbPath = options.dbPath ?? tempDbPath();
  const args = [...(options.nodeArgs ?? []), BIN, "serve", "--listen", "127.0.0.1:0", "--sqlite-path", dbPath, "--log-level", "debug", ...(options.args ?? [])];
  const [command, argv] = options.cpus === undefined ? [process.execPath, args] : ["taskset", ["-c", options.cpus, process.execPath, ...args]];
  const proc = spawn(command, argv, { env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
  const logs: LogLine[] = [];
  let stderr = "";
  proc.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<ExitResult>((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  const clients: SessionStoreClient[] = [];

  let metricsUrl: string | undefined;
  const address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      const entry = parseLogLine(line);
      logs.push(entry);
      if (entry.msg !== "listening") return;
      if (entry.metrics !== undefined) metricsUrl = String(entry.metrics);
      resolve(String(entry.address));
    });
    void exited.then((r) => reject(new Error(`sidecar exited (${r.code ?? r.signal}) before listening: ${stderr}`)));
  });

  return {
    address,
    metricsUrl,
    pid: proc.pid!,
    dbPath,
    logs,
    stderr: () => stderr,
    exited,
    client(clientOptions) {
      const client = new SessionStoreClient(address, clientOptions);
      clients.push(client);
      return client;
    },
    async stop(signal = "SIGTERM") {
      clients.forEach((c) => c.close());
      signalIfRunning(proc, signal);
      return exited;
    },
  };
}

function signalIfRunning(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
}

/** Runs the CLI to completion (for --help, --version and start-up failures). */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<ExitResult & { stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    proc.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The sidecar logs JSON lines only; anything else is kept as a message so a test can show it. */
function parseLogLine(line: string): LogLine {
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return { level: 0, msg: `unparsed stdout: ${line}` };
  }
}
