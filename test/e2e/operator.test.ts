import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionStatus } from "../../src/client/index.js";
import { runCli, startSidecar, type Sidecar } from "../support/sidecar-process.js";
import { toolPath } from "../support/tools.js";

const exec = promisify(execFile);

// What an operator does with a live sidecar: grpcurl through server
// reflection (no proto files), health checks, the CLI's help, a clean stop.
describe("operating a sidecar", () => {
  let sidecar: Sidecar;
  const grpcurl = (...args: string[]) => exec(toolPath("grpcurl"), ["-plaintext", ...args]).then((r) => r.stdout);

  beforeAll(async () => {
    sidecar = await startSidecar();
  });
  afterAll(async () => {
    if (sidecar) await sidecar.stop();
  });

  it("lists and describes the services through reflection", async () => {
    const services = (await grpcurl(sidecar.address, "list")).split("\n");
    expect(services).toEqual(expect.arrayContaining(["grpc.health.v1.Health", "sessionstore.v1.SessionStoreService"]));
    const described = await grpcurl(sidecar.address, "describe", "sessionstore.v1.Session");
    expect(described).toContain("int64 owner_epoch = 25;");
    expect(described).toContain("repeated .sessionstore.v1.ConversationItem conversation_history = 11;");
  });

  it("answers health checks SERVING", async () => {
    const out = JSON.parse(await grpcurl(sidecar.address, "grpc.health.v1.Health/Check"));
    expect(out).toEqual({ status: "SERVING" });
    const svc = JSON.parse(await grpcurl("-d", '{"service":"sessionstore.v1.SessionStoreService"}', sidecar.address, "grpc.health.v1.Health/Check"));
    expect(svc).toEqual({ status: "SERVING" });
  });

  it("serves calls written as JSON, and reports errors with their reason", async () => {
    const created = JSON.parse(
      await grpcurl("-d", '{"session":{"conversation_id":"ops-1","bridge_type":"audiocodes"},"owner_id":"pod-a"}', sidecar.address, "sessionstore.v1.SessionStoreService/CreateSession"),
    );
    expect(created.session).toMatchObject({ conversationId: "ops-1", status: "SESSION_STATUS_INITIATED", ownerEpoch: "1" });
    const resumed = JSON.parse(await grpcurl("-d", '{"conversation_id":"ops-1","owner_id":"pod-b"}', sidecar.address, "sessionstore.v1.SessionStoreService/ResumeSession"));
    expect(resumed.session).toMatchObject({ resumedCount: 1, status: "SESSION_STATUS_ACTIVE", ownerId: "pod-b" });
    const failure = await grpcurl("-d", '{"conversation_id":"nope"}', sidecar.address, "sessionstore.v1.SessionStoreService/GetSession").then(
      () => "",
      (err: { stderr: string }) => err.stderr,
    );
    expect(failure).toContain("Code: NotFound");
    expect(failure).toContain("SESSION_NOT_FOUND");
  });

  it("never writes conversation text or audio to its log", async () => {
    const client = sidecar.client();
    await client.createSession({ session: { conversationId: "private-1" } });
    await client.updateSession({ update: { conversationId: "private-1", appendHistory: [{ text: "my card number is 4111-SECRET" }], appendAudio: [{ data: Buffer.from("SECRETAUDIO") }] } });
    await client.updateSession({ update: { conversationId: "private-1", appendHistory: [{ text: "x".repeat(300) }], updateMask: { paths: ["status"] }, session: { status: 99 as SessionStatus } } }).catch(() => undefined);
    const log = JSON.stringify(sidecar.logs);
    expect(sidecar.logs.length).toBeGreaterThan(0);
    expect(log).not.toContain("SECRET");
    expect(log).not.toContain(Buffer.from("SECRETAUDIO").toString("base64"));
  });

  it("drains on SIGTERM: reports NOT_SERVING, finishes, exits 0 with a closing log line", async () => {
    const other = await startSidecar();
    const result = await other.stop("SIGTERM");
    expect(result).toEqual({ code: 0, signal: null });
    const messages = other.logs.map((l) => l.msg);
    expect(messages).toEqual(expect.arrayContaining(["listening", "draining", "stopped"]));
  });

  it("prints --help with every flag and --version from package.json", async () => {
    const help = await runCli(["serve", "--help"]);
    for (const flag of ["--listen", "--storage", "--sqlite-path", "--max-sessions", "--max-session-age", "--max-resume-age", "--max-resume-attempts", "--cleanup-interval", "--cleanup-batch-size", "--audio-buffer-max-bytes", "--log-level", "--config", "--redis-sentinels", "--redis-sentinel-name", "--redis-min-replicas", "--redis-min-replicas-timeout"]) {
      expect(help.stdout).toContain(flag);
    }
    const version = await runCli(["--version"]);
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    expect(version.stdout.trim()).toBe(pkg.version);
  });
});
