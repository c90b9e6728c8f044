import { createHash, timingSafeEqual } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";
import type { Role, TokenGrant } from "../config/auth-tokens.js";
import { Reason, SessionError } from "../session/errors.js";

/** The tenant of every caller while auth is off. */
export const DEFAULT_TENANT = "default";

/** Who a call acts for: its tenant, and what its token may do there (server/access.ts). */
export interface Caller {
  tenant: string;
  role: Role;
}

/** With auth off every caller is the default tenant, with every right: the sidecar behaves as before tokens existed. */
const ANONYMOUS: Caller = { tenant: DEFAULT_TENANT, role: "admin" };

function digestOf(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/**
 * The accepted tokens, held only as SHA-256 digests. A lookup hashes the
 * presented token and finds the entry by its digest, then compares the
 * digests with timingSafeEqual: how long a lookup takes depends on the
 * digest, which a caller cannot steer towards a real token without
 * inverting SHA-256, never on how much of a real token the caller guessed.
 * No token text is kept, so none can be logged or dumped from here.
 */
export class TokenTable {
  private readonly byDigest = new Map<string, { digest: Buffer; caller: Caller }>();

  constructor(grants: readonly TokenGrant[]) {
    for (const { token, tenant, role } of grants) {
      const digest = digestOf(token);
      this.byDigest.set(digest.toString("base64"), { digest, caller: { tenant, role } });
    }
  }

  get size(): number {
    return this.byDigest.size;
  }

  /** The tenant and role of a token; undefined for a token this table does not hold. */
  lookup(token: string): Caller | undefined {
    const digest = digestOf(token);
    const entry = this.byDigest.get(digest.toString("base64"));
    return entry !== undefined && timingSafeEqual(entry.digest, digest) ? entry.caller : undefined;
  }

  /** The tenants the table names, for logs. */
  tenants(): string[] {
    return [...new Set([...this.byDigest.values()].map((e) => e.caller.tenant))].sort();
  }
}

/**
 * Who calls: auth is on when any token source is configured (a tokens file
 * that is empty for now refuses every call rather than turning auth off).
 * The table is replaced whole when the tokens file changes, so a call sees
 * either the old tokens or the new ones.
 */
export class Authenticator {
  /** Counts replacements, so a long-lived call can tell cheaply whether its token must be looked up again. */
  private version = 0;

  constructor(
    private table: TokenTable,
    readonly enabled: boolean,
  ) {}

  replace(table: TokenTable): void {
    this.table = table;
    this.version += 1;
  }

  /**
   * The caller of a call that outlives a reload (an update stream): looked up
   * now, and again whenever the tokens have changed since, so a token removed
   * from the file stops an open stream too. The returned function throws
   * UNAUTHENTICATED once the token is no longer accepted.
   */
  liveCallerOf(metadata: Metadata): () => Caller {
    let version = this.version;
    let caller = this.callerOf(metadata);
    return () => {
      if (version !== this.version) {
        caller = this.callerOf(metadata);
        version = this.version;
      }
      return caller;
    };
  }

  /** The caller of a call with this metadata: `authorization: Bearer <token>` with an accepted token, or UNAUTHENTICATED. */
  callerOf(metadata: Metadata): Caller {
    if (!this.enabled) return ANONYMOUS;
    const header = metadata.get("authorization")[0];
    const match = typeof header === "string" ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    const caller = match?.[1] === undefined ? undefined : this.table.lookup(match[1]);
    if (caller === undefined) {
      throw new SessionError(
        Reason.Unauthenticated,
        header === undefined ? "missing authorization metadata: send \"authorization: Bearer <token>\"" : "the bearer token is not one this sidecar accepts",
      );
    }
    return caller;
  }
}
