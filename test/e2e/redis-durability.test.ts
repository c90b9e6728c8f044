import { afterAll, describe, expect, it } from "vitest";
import { type RedisServer, type RedisServerOptions, startRedisServer } from "../support/redis-server.js";
import { runCli, type Sidecar, startSidecar, tempDbPath } from "../support/sidecar-process.js";

// What an acknowledgement means depends on Redis's persistence settings: the
// sidecar reads them at start and says so, or refuses when asked to.
describe("the Redis durability check at start", () => {
  const servers: RedisServer[] = [];
  const sidecars: Sidecar[] = [];

  afterAll(async () => {
    await Promise.all(sidecars.map((s) => s.stop()));
    await Promise.all(servers.map((s) => s.stop()));
  });

  async function redis(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = await startRedisServer(options);
    servers.push(server);
    return server;
  }

  async function sidecarOn(server: RedisServer, ...args: string[]): Promise<Sidecar> {
    const sidecar = await startSidecar({ args: ["--storage", "redis", "--redis-url", server.url, ...args] });
    sidecars.push(sidecar);
    return sidecar;
  }

  function refusedStart(server: RedisServer) {
    return runCli(["serve", "--listen", "127.0.0.1:0", "--sqlite-path", tempDbPath(), "--storage", "redis", "--redis-url", server.url, "--redis-require-durable"]);
  }

  const warnings = (sidecar: Sidecar) => sidecar.logs.filter((l) => l.level === 40 && l.module === "redis").map((l) => l.msg);

  it("says an ack survives a crash and power loss on appendonly yes / appendfsync always, and starts with --redis-require-durable", async () => {
    const server = await redis();
    const sidecar = await sidecarOn(server, "--redis-require-durable");
    expect(sidecar.logs.some((l) => l.msg.includes("an acknowledged write survives a Redis crash and power loss"))).toBe(true);
    expect(warnings(sidecar)).toEqual([]);
    await sidecar.client().createSession({ session: { conversationId: "durable-call" } });
  });

  it("warns that an ack is in memory only with appendonly no, and refuses to start with --redis-require-durable", async () => {
    const server = await redis({ appendonly: "no" });
    const sidecar = await sidecarOn(server);
    expect(warnings(sidecar)).toEqual([expect.stringMatching(/appendonly no, appendfsync always.*in Redis's memory only: a Redis crash or restart loses/)]);
    // A warning only: the sidecar serves.
    await sidecar.client().createSession({ session: { conversationId: "memory-call" } });

    const refused = await refusedStart(server);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/does not make acknowledged writes durable \(appendonly no, appendfsync always\).*set appendonly yes and appendfsync always/);
  });

  it("warns that power loss can lose the last second with appendfsync everysec, and refuses with --redis-require-durable", async () => {
    const server = await redis({ appendfsync: "everysec" });
    const sidecar = await sidecarOn(server);
    expect(warnings(sidecar)).toEqual([expect.stringMatching(/survives a Redis crash, but power loss or a kernel crash .* about the last second/)]);
    const refused = await refusedStart(server);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("(appendonly yes, appendfsync everysec)");
  });

  it("starts with a warning when CONFIG is disabled, as on managed Redis, and refuses with --redis-require-durable", async () => {
    const server = await redis({ withoutConfigCommand: true });
    const sidecar = await sidecarOn(server);
    expect(warnings(sidecar)).toEqual([expect.stringContaining("could not check whether Redis fsyncs every write (CONFIG GET failed")]);
    const reason = sidecar.logs.find((l) => l.msg.startsWith("could not check"))?.reason;
    expect(String(reason)).toMatch(/unknown command/i);
    await sidecar.client().createSession({ session: { conversationId: "managed-call" } });

    const refused = await refusedStart(server);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/cannot check that Redis at redis:\/\/127\.0\.0\.1:\d+\/0 makes acknowledged writes durable/);
  });
});
