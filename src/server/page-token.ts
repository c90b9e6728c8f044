import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { Reason, SessionError } from "../session/errors.js";
import { conversationIdViolations } from "../session/validate.js";

/**
 * ListSessions page tokens: the last conversation_id of a page and a digest
 * of the filters, signed with HMAC-SHA256 under the store's page-token key
 * (Store.pageTokenKey), which every sidecar sharing the store holds. Opaque
 * to clients, valid across restarts and across those sidecars, and unforgeable
 * without the key: a token is only ever one this service issued. Anything
 * else — edited, truncated, signed with another key, of another shape or
 * version, too long, or reused with other filters — is INVALID_ARGUMENT
 * INVALID_PAGE_TOKEN, and is judged before any of it reaches the store.
 */

const VERSION = 2;

/** Longer than any token issued: the body holds one conversation_id and a fixed-size digest. */
export const MAX_PAGE_TOKEN_LENGTH = 512;

/** Bytes of the HMAC kept in a token: 128 bits, beyond guessing. */
const MAC_BYTES = 16;

interface TokenBody {
  v: number;
  after: string;
  filter: string;
}

const FIELDS = ["after", "filter", "v"];

export class PageTokens {
  constructor(private readonly key: Uint8Array) {}

  /** A token that continues a list with `filterKey` after the session `after`. */
  encode(after: string, filterKey: string): string {
    const body: TokenBody = { v: VERSION, after, filter: filterDigest(filterKey) };
    const payload = Buffer.from(JSON.stringify(body)).toString("base64url");
    return `${payload}.${this.mac(payload).toString("base64url")}`;
  }

  /** The conversation_id to continue after; "" for an empty token (the first page). */
  decode(token: string, filterKey: string): string {
    if (token === "") return "";
    if (token.length > MAX_PAGE_TOKEN_LENGTH) throw invalid(`is longer than any token this service issues (at most ${MAX_PAGE_TOKEN_LENGTH} characters)`);
    const parts = token.split(".");
    if (parts.length !== 2 || !this.signed(parts[0]!, parts[1]!)) throw invalid("is not a token this service issued (it is damaged or was edited)");
    const body = parseBody(parts[0]!);
    if (body.filter !== filterDigest(filterKey)) {
      throw invalid("was issued for other filters; repeat the request with the statuses and bridge_type it was issued for");
    }
    return body.after;
  }

  private mac(payload: string): Buffer {
    return createHmac("sha256", this.key).update(payload).digest().subarray(0, MAC_BYTES);
  }

  private signed(payload: string, mac: string): boolean {
    // base64url decoding skips characters outside its alphabet; only the canonical spelling of a MAC counts.
    const given = Buffer.from(mac, "base64url");
    if (given.length !== MAC_BYTES || given.toString("base64url") !== mac) return false;
    return timingSafeEqual(given, this.mac(payload));
  }
}

/**
 * The signed body, taken only in the exact shape encode writes. Reached only
 * by tokens signed with the key, so a failure here means a bug or a key that
 * leaked, and is refused all the same rather than trusted.
 */
function parseBody(payload: string): TokenBody {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    throw invalid("is not a token this service issued (its body is not JSON)");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body) || Object.keys(body).sort().join() !== FIELDS.join()) {
    throw invalid("is not a token this service issued (its body has other fields)");
  }
  const { v, after, filter } = body as Record<string, unknown>;
  if (v !== VERSION) throw invalid(`was issued by another version of this service (token version ${JSON.stringify(v)}); start the list again`);
  if (typeof after !== "string" || conversationIdViolations(after, "after").length > 0 || typeof filter !== "string") {
    throw invalid("is not a token this service issued (its fields have the wrong types)");
  }
  return { v, after, filter };
}

/** The filters as a fixed-size digest, so a token's size does not grow with them. */
function filterDigest(filterKey: string): string {
  return createHash("sha256").update(filterKey).digest("base64url").slice(0, 22);
}

function invalid(description: string): SessionError {
  return new SessionError(Reason.InvalidPageToken, `invalid page token: page_token ${description}`, {
    violations: [{ field: "page_token", description }],
  });
}
