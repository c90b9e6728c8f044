import { execFile, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN } from "./sidecar-process.js";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliRunOptions {
  env?: Record<string, string>;
  /** Written to the command's stdin, which is then closed. */
  input?: string;
}

/** Runs `sessionstore <args>` (the built bin of this checkout) to its exit. */
export function sessionstore(args: string[], options: CliRunOptions = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    proc.on("exit", (code) => resolve({ code, stdout, stderr }));
    proc.stdin.end(options.input ?? "");
  });
}

let binDir: string | undefined;

/** A directory holding a `sessionstore` command that runs this checkout's bin: put first on PATH, shell snippets run as a user types them. */
export function sessionstoreOnPath(): string {
  if (binDir === undefined) {
    binDir = mkdtempSync(join(tmpdir(), "sessionstore-bin-"));
    const script = join(binDir, "sessionstore");
    writeFileSync(script, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
    chmodSync(script, 0o755);
  }
  return binDir;
}

/** Runs a shell command line (pipes and all) with `sessionstore` on PATH. */
export function shell(command: string, options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  const PATH = `${sessionstoreOnPath()}:${options.env?.PATH ?? process.env.PATH}`;
  return new Promise((resolve) => {
    execFile("sh", ["-c", command], { env: { ...process.env, ...options.env, PATH }, cwd: options.cwd, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? -1) : 0, stdout, stderr });
    });
  });
}
