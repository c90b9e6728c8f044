import { createHash } from "node:crypto";
import { Reason, SessionError } from "../session/errors.js";

/**
 * ListSessions page tokens: the last conversation_id of a page plus a digest
 * of the filters, with a checksum. Opaque to clients; valid across restarts
 * and across sidecars sharing a store (nothing secret is needed, since the
 * tenant comes from the caller, not the token). An edited, truncated or
 * foreign token, or one reused with other filters, is INVALID_ARGUMENT.
 */

interface TokenBody {
  v: 1;
  after: string;
  filter: string;
}

function checksum(payload: string): string {
  return createHash("sha256").update(`sessionstore.page.${payload}`).digest("base64url").slice(0, 16);
}

export function encodePageToken(after: string, filterKey: string): string {
  const body: TokenBody = { v: 1, after, filter: filterKey };
  const payload = Buffer.from(JSON.stringify(body)).toString("base64url");
  return `${payload}.${checksum(payload)}`;
}

/** The conversation_id to continue after; "" for an empty token (the first page). */
export function decodePageToken(token: string, filterKey: string): string {
  if (token === "") return "";
  const [payload, sum, extra] = token.split(".");
  if (payload === undefined || sum === undefined || extra !== undefined || checksum(payload) !== sum) {
    throw invalid("page_token is not a token this service issued (it is damaged or was edited)");
  }
  const body = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as TokenBody;
  if (body.filter !== filterKey) {
    throw invalid("page_token was issued for other filters; repeat the request with the statuses and bridge_type it was issued for");
  }
  return body.after;
}

function invalid(description: string): SessionError {
  return new SessionError(Reason.InvalidPageToken, `invalid page token: ${description}`, {
    violations: [{ field: "page_token", description }],
  });
}
