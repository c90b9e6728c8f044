import { createHash, createHmac, randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionStoreClient } from "../../src/client/index.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import { type Sidecar, startSidecar, tempDbPath } from "../support/sidecar-process.js";

/*
 * Page tokens are signed with a key kept in the store: a token is accepted
 * only as this service issued it. The forgeries below are built the way an
 * attacker who read the source would build them, and the "signed" ones with
 * the store's real key, to show that even a correctly signed body is parsed
 * strictly.
 */

const payloadOf = (token: string) => token.split(".")[0]!;
const bodyOf = (token: string) => JSON.parse(Buffer.from(payloadOf(token), "base64url").toString()) as Record<string, unknown>;

/** A token as the unkeyed scheme made them: anyone could compute the checksum. */
function unkeyed(body: unknown): string {
  const payload = Buffer.from(JSON.stringify(body)).toString("base64url");
  return `${payload}.${createHash("sha256").update(`sessionstore.page.${payload}`).digest("base64url").slice(0, 16)}`;
}

/** A body signed with `key` in the token's format, HMAC-SHA256 cut to 16 bytes. */
function signed(key: Uint8Array, json: string): string {
  const payload = Buffer.from(json).toString("base64url");
  return `${payload}.${createHmac("sha256", key).update(payload).digest().subarray(0, 16).toString("base64url")}`;
}

async function expectInvalidToken(client: SessionStoreClient, pageToken: string, description?: RegExp): Promise<void> {
  const { details } = await expectRpcError(client.listSessions({ pageSize: 1, pageToken }), status.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN");
  expect(details.badRequest?.fieldViolations[0]?.field).toBe("page_token");
  if (description) expect(details.badRequest?.fieldViolations[0]?.description).toMatch(description);
}

describe("page tokens on SQLite", () => {
  const dbPath = tempDbPath();
  let sidecar: Sidecar;
  let client: SessionStoreClient;
  let token: string;
  let key: Uint8Array;

  beforeAll(async () => {
    sidecar = await startSidecar({ dbPath });
    client = sidecar.client({ retry: false });
    for (const id of ["p-0", "p-1", "p-2"]) await client.createSession({ session: { conversationId: id } });
    token = (await client.listSessions({ pageSize: 1 })).nextPageToken;
    // The key as the file holds it, read as an operator with the file could.
    const db = new Database(dbPath, { readonly: true });
    key = db.prepare<[], Buffer>("SELECT value FROM secrets WHERE name = 'page_token_key'").pluck().get()!;
    db.close();
  });
  afterAll(async () => {
    await sidecar?.stop();
  });

  it("keeps a key of 32 random bytes in the file, and pages with the tokens it signs", async () => {
    expect(key.length).toBe(32);
    const page = await client.listSessions({ pageSize: 1, pageToken: token });
    expect(page.sessions.map((s) => s.conversationId)).toEqual(["p-1"]);
  });

  it("refuses a token with the old unkeyed checksum, though its shape is right", async () => {
    await expectInvalidToken(client, unkeyed({ v: 1, after: "p-1", filter: JSON.stringify([[], ""]) }), /not a token this service issued/);
    await expectInvalidToken(client, unkeyed(bodyOf(token)));
  });

  it("refuses a token signed with another key", async () => {
    await expectInvalidToken(client, signed(randomBytes(32), JSON.stringify({ ...bodyOf(token), after: "p-1" })), /not a token this service issued/);
  });

  it("refuses an edited or truncated token", async () => {
    const [payload, mac] = token.split(".") as [string, string];
    const edited = signed(randomBytes(32), "x").split(".")[1]!;
    await expectInvalidToken(client, `${payload.slice(0, -2)}${payload.at(-2) === "A" ? "B" : "A"}${payload.at(-1)}.${mac}`);
    await expectInvalidToken(client, `${payload}.${edited}`);
    await expectInvalidToken(client, token.slice(0, -3));
    await expectInvalidToken(client, payload);
    await expectInvalidToken(client, `${token}.`);
    await expectInvalidToken(client, `${payload}.${mac}=`);
  });

  it("refuses a non-string cursor even in a correctly signed body, where the unkeyed scheme let it reach SQLite (INTERNAL)", async () => {
    await expectInvalidToken(client, unkeyed({ v: 1, after: 5, filter: JSON.stringify([[], ""]) }));
    for (const after of [5, null, ["p-1"], { id: "p-1" }, "", "x".repeat(129), "p 1"]) {
      await expectInvalidToken(client, signed(key, JSON.stringify({ ...bodyOf(token), after })), /wrong types/);
    }
  });

  it("refuses a correctly signed body of a foreign shape or version", async () => {
    const body = bodyOf(token);
    for (const json of ["[1,2]", '"p-1"', "null", "7", "{}", "not json", JSON.stringify({ ...body, extra: 1 }), JSON.stringify({ after: body.after, filter: body.filter })]) {
      await expectInvalidToken(client, signed(key, json));
    }
    await expectInvalidToken(client, signed(key, JSON.stringify({ ...body, v: 1 })), /another version/);
    await expectInvalidToken(client, signed(key, JSON.stringify({ ...body, v: "2" })), /another version/);
  });

  it("refuses a huge token before reading it", async () => {
    await expectInvalidToken(client, unkeyed({ v: 1, after: "p".repeat(200_000), filter: JSON.stringify([[], ""]) }), /longer than any token/);
    await expectInvalidToken(client, "a".repeat(1_000_000), /longer than any token/);
  });

  it("refuses a token reused with other filters", async () => {
    await expectRpcError(client.listSessions({ pageSize: 1, pageToken: token, bridgeType: "twilio" }), status.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN");
  });

  it("accepts its tokens after a restart on the same file", async () => {
    await sidecar.stop();
    sidecar = await startSidecar({ dbPath });
    client = sidecar.client({ retry: false });
    const page = await client.listSessions({ pageSize: 1, pageToken: token });
    expect(page.sessions.map((s) => s.conversationId)).toEqual(["p-1"]);
  });
});

describe("page tokens on Redis", () => {
  let redis: RedisServer;
  const sidecars: Sidecar[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await Promise.all(sidecars.map((s) => s.stop()));
    await redis?.stop();
  });

  it("shares one key among the sidecars of a Redis: each accepts the others' tokens, and nothing else", async () => {
    // Started together, they race to make the key; SET NX leaves them one.
    const [a, b] = await Promise.all([startSidecar({ args: ["--storage", "redis", "--redis-url", redis.url] }), startSidecar({ args: ["--storage", "redis", "--redis-url", redis.url] })]);
    sidecars.push(a!, b!);
    const ca = a!.client({ retry: false });
    const cb = b!.client({ retry: false });
    for (const id of ["r-0", "r-1", "r-2"]) await ca.createSession({ session: { conversationId: id } });

    const fromA = (await ca.listSessions({ pageSize: 1 })).nextPageToken;
    expect((await cb.listSessions({ pageSize: 1, pageToken: fromA })).sessions.map((s) => s.conversationId)).toEqual(["r-1"]);
    const fromB = (await cb.listSessions({ pageSize: 2 })).nextPageToken;
    expect((await ca.listSessions({ pageSize: 2, pageToken: fromB })).sessions.map((s) => s.conversationId)).toEqual(["r-2"]);

    const direct = new Redis(redis.url);
    const key = (await direct.getBuffer("sessionstore:global:{global}:page-token-key"))!;
    direct.disconnect();
    expect(key.length).toBe(32);
    for (const client of [ca, cb]) {
      await expectInvalidToken(client, unkeyed(bodyOf(fromA)));
      await expectInvalidToken(client, signed(randomBytes(32), JSON.stringify(bodyOf(fromA))));
      await expectInvalidToken(client, signed(key, JSON.stringify({ ...bodyOf(fromA), after: 5 })), /wrong types/);
      await expectInvalidToken(client, signed(key, "[]"));
      await expectInvalidToken(client, fromA.slice(0, 20));
      await expectInvalidToken(client, "x".repeat(600), /longer than any token/);
    }

    // A sidecar started later, or again, reads the same key.
    const c = await startSidecar({ args: ["--storage", "redis", "--redis-url", redis.url] });
    sidecars.push(c);
    expect((await c.client({ retry: false }).listSessions({ pageSize: 1, pageToken: fromA })).sessions.map((s) => s.conversationId)).toEqual(["r-1"]);
  });
});
