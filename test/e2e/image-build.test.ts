import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionStoreClient } from "../../src/client/index.js";
import { REPO } from "../support/doc-snippets.js";
import { exec } from "../support/installed-clients.js";

/**
 * deploy/Dockerfile, built the only way this machine can: its RUN steps are
 * deploy/build-image-root.sh, run here into a temporary root, and the result
 * is started as the image's final stage says (ENV, WORKDIR, USER, ENTRYPOINT,
 * CMD), then asked for health with the grpc_health_probe the image carries.
 */
interface FinalStage {
  env: Record<string, string>;
  workdir: string;
  user: string;
  entrypoint: string[];
  cmd: string[];
  runs: string[];
  copies: string[];
}

/** The instructions of the last stage, continuation lines joined; only what starting the image needs. */
function finalStage(dockerfile: string): FinalStage & { buildRuns: string[] } {
  const lines = dockerfile.replace(/\\\n\s*/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const last = lines.map((l) => l.startsWith("FROM ")).lastIndexOf(true);
  const stage: FinalStage = { env: {}, workdir: "/", user: "root", entrypoint: [], cmd: [], runs: [], copies: [] };
  for (const line of lines.slice(last + 1)) {
    const [instruction, rest = ""] = [line.slice(0, line.indexOf(" ")), line.slice(line.indexOf(" ") + 1)];
    if (instruction === "ENV") for (const [, key, value] of rest.matchAll(/(\w+)=(\S+)/g)) stage.env[key!] = value!;
    if (instruction === "WORKDIR") stage.workdir = rest;
    if (instruction === "USER") stage.user = rest;
    if (instruction === "ENTRYPOINT") stage.entrypoint = JSON.parse(rest) as string[];
    if (instruction === "CMD") stage.cmd = JSON.parse(rest) as string[];
    if (instruction === "RUN") stage.runs.push(rest);
    if (instruction === "COPY") stage.copies.push(rest);
  }
  const buildRuns = lines.slice(0, last).filter((l) => l.startsWith("RUN ")).map((l) => l.slice(4));
  return { ...stage, buildRuns };
}

const dockerfile = finalStage(readFileSync(join(REPO, "deploy/Dockerfile"), "utf8"));
const SCRIPT = "deploy/build-image-root.sh";
// The image's user `node`: uid and gid 1000 in the node images, and in deploy/kubernetes.
const NODE_UID = 1000;

let root = "";
let proc: ChildProcess | undefined;
let address = "";
const logs: { msg: string; [key: string]: unknown }[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "sessionstore-image-"));
  chmodSync(root, 0o755);
  // The Dockerfile's steps, in its order, with its target root swapped for ours.
  const steps = dockerfile.buildRuns.filter((run) => run.startsWith(SCRIPT));
  for (const step of steps) {
    const [, name, target] = step.split(/\s+/);
    expect(target).toBe("/rootfs");
    const run = await exec(join(REPO, SCRIPT), [name!, root], { cwd: REPO, timeoutMs: 900_000 });
    expect(run.exitCode, run.output).toBe(0);
  }

  // As the image's USER, uid 1000, when the test can: every file but /data is root's then, so a
  // write anywhere else would fail, as it would on deploy/kubernetes's read-only root filesystem.
  const asNode = process.getuid?.() === 0;
  if (asNode) chownSync(join(root, "data"), NODE_UID, NODE_UID); // the final stage's `chown node:node /data`
  // As in the container: the image's ENV alone (its paths under our root), on a free loopback port.
  const env: Record<string, string> = { PATH: [join(root, "usr/local/bin"), dirname(process.execPath), "/usr/bin", "/bin"].join(":") };
  for (const [key, value] of Object.entries(dockerfile.env)) env[key] = value.startsWith("/") ? join(root, value) : value;
  env.SESSIONSTORE_LISTEN = "127.0.0.1:0";
  const [command, ...args] = [...dockerfile.entrypoint, ...dockerfile.cmd];
  proc = spawn(command === "node" ? process.execPath : command!, args, {
    cwd: join(root, dockerfile.workdir),
    env,
    stdio: ["ignore", "pipe", "pipe"],
    ...(asNode ? { uid: NODE_UID, gid: NODE_UID } : {}),
  });
  let stderr = "";
  proc.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc!.stdout! }).on("line", (line) => {
      const entry = JSON.parse(line) as { msg: string; address?: string };
      logs.push(entry);
      if (entry.msg === "listening") resolve(String(entry.address));
    });
    proc!.on("exit", (code) => reject(new Error(`the image's entrypoint exited ${code}: ${stderr}`)));
  });
}, 1_200_000);

afterAll(() => {
  proc?.kill("SIGKILL");
});

describe("deploy/Dockerfile's build, run by deploy/build-image-root.sh into a temporary root", () => {
  it("is the Dockerfile's every build step, copied whole into the final stage", () => {
    expect(dockerfile.buildRuns.filter((r) => r.startsWith(SCRIPT))).toEqual([`${SCRIPT} sidecar /rootfs`, `${SCRIPT} probe /rootfs`]);
    expect(dockerfile.copies).toEqual(["--from=build /rootfs/ /", "--from=probe /rootfs/ /"]);
    expect(dockerfile.user).toBe("node");
    expect(dockerfile.entrypoint).toEqual(["node", "bin/sessionstore.js"]);
  });

  it("holds the production dependencies only, with better-sqlite3 compiled, and grpc_health_probe", () => {
    const app = join(root, dockerfile.workdir);
    expect(existsSync(join(app, "dist/main.js"))).toBe(true);
    expect(existsSync(join(app, "node_modules/better-sqlite3/build/Release/better_sqlite3.node"))).toBe(true);
    for (const dev of ["vitest", "typescript", "tsx", "@bufbuild/buf"]) expect(existsSync(join(app, "node_modules", dev)), dev).toBe(false);
    expect(existsSync(join(app, "src"))).toBe(false);
    expect(existsSync(join(root, "usr/local/bin/grpc_health_probe"))).toBe(true);
  });

  it("starts as the image would, answers health to its grpc_health_probe, and keeps calls in /data", async () => {
    const probe = join(root, "usr/local/bin/grpc_health_probe");
    for (const service of ["", "liveness", "sessionstore.v1.SessionStoreService"]) {
      const run = await exec(probe, [`-addr=${address}`, `-service=${service}`]);
      expect({ service, ...run }).toMatchObject({ service, exitCode: 0, output: expect.stringContaining("status: SERVING") });
    }
    const client = new SessionStoreClient(address);
    try {
      const { created } = await client.resumeSession({ conversationId: "image-call-1", ownerId: "pod-a", createIfMissing: true });
      expect(created).toBe(true);
    } finally {
      client.close();
    }
    expect(existsSync(join(root, dockerfile.env.SESSIONSTORE_SQLITE_PATH!))).toBe(true);
  });

  it("stops cleanly on SIGTERM, as the kubelet stops it", async () => {
    const exited = new Promise<number | null>((resolve) => proc!.on("exit", (code) => resolve(code)));
    proc!.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
