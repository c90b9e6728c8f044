import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";

// A managed Redis as it is usually offered: TLS with a private CA, and a password.
describe("Redis over TLS with a password", () => {
  const PASSWORD = "s3cret-redis-pass";
  let redis: RedisServer;
  let sidecar: Sidecar | undefined;

  beforeAll(async () => {
    redis = await startRedisServer({ tls: true, password: PASSWORD });
  });
  afterAll(async () => {
    await sidecar?.stop();
    await redis?.stop();
  });

  it("serves from a rediss:// URL, trusting the CA given to Node, and never logs the password", async () => {
    const url = redis.url.replace("rediss://", `rediss://:${PASSWORD}@`);
    sidecar = await startSidecar({ args: ["--storage", "redis", "--redis-url", url], env: { NODE_EXTRA_CA_CERTS: redis.caFile! } });
    const client = sidecar.client({ retry: false });
    await client.createSession({ session: { conversationId: "tls-call", caller: "+15550100" } });
    expect((await client.getSession({ conversationId: "tls-call" })).session?.caller).toBe("+15550100");
    expect(JSON.stringify(sidecar.logs)).not.toContain(PASSWORD);
    expect(sidecar.logs.find((l) => l.msg === "listening")).toMatchObject({ storage: "redis", redisUrl: `rediss://:***@127.0.0.1:${redis.port}` });
  });

  it("refuses to start, saying why, with a wrong password or an untrusted certificate", async () => {
    const wrongPassword = startSidecar({
      args: ["--storage", "redis", "--redis-url", redis.url.replace("rediss://", "rediss://:wrong@")],
      env: { NODE_EXTRA_CA_CERTS: redis.caFile! },
    });
    await expect(wrongPassword).rejects.toThrow(/cannot open the redis store: cannot connect to Redis at rediss:\/\/127\.0\.0\.1:\d+\/0: WRONGPASS/);
    const untrusted = startSidecar({ args: ["--storage", "redis", "--redis-url", redis.url.replace("rediss://", `rediss://:${PASSWORD}@`)] });
    await expect(untrusted).rejects.toThrow(/cannot connect to Redis at rediss:\/\/127\.0\.0\.1:\d+\/0: self-signed certificate in certificate chain/);
  });
});
