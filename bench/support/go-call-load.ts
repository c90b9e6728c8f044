/**
 * runCallLoad's traffic sent by the Go load generator instead
 * (clients/go/internal/callload), for loads the TypeScript one cannot offer
 * from its core: it is built once per run into a temp directory, given the
 * options as JSON on stdin, and prints a CallLoadResult as JSON.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CallLoadOptions, CallLoadResult } from "./call-load.js";

const MODULE_DIR = fileURLToPath(new URL("../../clients/go", import.meta.url));
let binary: string | undefined;

function built(): string {
  if (binary === undefined) {
    const out = join(mkdtempSync(join(tmpdir(), "sessionstore-callload-")), "callload");
    execFileSync("go", ["build", "-o", out, "./internal/callload"], { cwd: MODULE_DIR, stdio: ["ignore", "inherit", "inherit"] });
    binary = out;
  }
  return binary;
}

export async function runGoCallLoad(options: CallLoadOptions): Promise<CallLoadResult> {
  const input = JSON.stringify({
    ...options,
    sessions: [...options.sessions].map(([id, s]) => ({ id, ownerEpoch: Number(s.ownerEpoch), lastSeq: Number(s.lastSeq) })),
  });
  const child = spawn(built(), [], { stdio: ["pipe", "pipe", "inherit"] });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stdin.end(input);
  const code = await new Promise<number | null>((resolve, reject) => child.on("error", reject).on("exit", resolve));
  if (code !== 0) throw new Error(`the Go load generator exited with ${code}`);
  const result = JSON.parse(stdout) as Omit<CallLoadResult, "failedBy" | "p50Ms" | "p99Ms"> & {
    failedBy: Record<string, number>;
    p50Ms: number | null;
    p99Ms: number | null;
  };
  return { ...result, failedBy: new Map(Object.entries(result.failedBy)), p50Ms: result.p50Ms ?? Number.NaN, p99Ms: result.p99Ms ?? Number.NaN };
}
