import { randomBytes } from "node:crypto";
import type { KeyLayout } from "./keys.js";
import type { RedisClient } from "./round.js";

/**
 * The page-token key every sidecar on this Redis shares: the first to start
 * sets it (SET NX, so two starting at once agree on one), the rest read it.
 */
export async function sharedPageTokenKey(redis: RedisClient, layout: KeyLayout): Promise<Uint8Array> {
  await redis.set(layout.global.pageTokenKey, randomBytes(32), "NX");
  const key = await redis.getBuffer(layout.global.pageTokenKey);
  if (key === null || key.length < 32) throw new Error(`${layout.global.pageTokenKey} holds no key of 32 bytes; delete it to have a new one made`);
  return new Uint8Array(key);
}
