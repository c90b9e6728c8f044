import type { Metadata } from "@grpc/grpc-js";
import { Reason, SessionError } from "../session/errors.js";

/** The tenant of every call while auth is off. */
export const DEFAULT_TENANT = "default";

/**
 * The tenant a call acts for. With no tokens configured, auth is off and every
 * caller is the default tenant; otherwise the call must carry
 * `authorization: Bearer <token>` with a configured token.
 */
export function tenantOf(metadata: Metadata, tokens: ReadonlyMap<string, string>): string {
  if (tokens.size === 0) return DEFAULT_TENANT;
  const header = metadata.get("authorization")[0];
  const match = typeof header === "string" ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  const tenant = match?.[1] === undefined ? undefined : tokens.get(match[1]);
  if (tenant === undefined) {
    throw new SessionError(
      Reason.Unauthenticated,
      header === undefined ? "missing authorization metadata: send \"authorization: Bearer <token>\"" : "the bearer token is not one this sidecar accepts",
    );
  }
  return tenant;
}
