import { Invalid } from "./config-values.js";

/**
 * Bearer tokens and what each may do, as an operator writes them:
 * `token=tenant[:role]`, in --auth-tokens (comma-separated), a config file
 * ({token: "tenant[:role]"}) or the tokens file (one a line).
 *
 * A token is a secret, and a pair written backwards puts the secret where the
 * tenant goes, so no message here ever repeats either side of a pair: a
 * problem is named by the pair's position only. What a pair must look like is
 * chosen so that a backwards one is refused rather than read as a tenant:
 * a token is long and not a word (a tenant name written first is short, or
 * made of letters), and a tenant must not look generated.
 */

/**
 * What a token may do in its tenant. A bridge runs calls: create, resume,
 * read, and write or end a session with its owner_epoch. An admin may also
 * write without fencing, delete, clean up and list (see server/access.ts).
 */
export type Role = "bridge" | "admin";
export const ROLES: readonly Role[] = ["bridge", "admin"];

/**
 * A pair without a role is a bridge: what a bridge does needs nothing more,
 * and a token that leaks from a bridge's pod spec then cannot rewrite or
 * delete another pod's calls. Operators' tooling gets `:admin` explicitly.
 */
export const DEFAULT_ROLE: Role = "bridge";

export interface TokenGrant {
  token: string;
  tenant: string;
  role: Role;
}

/** 16 characters of a generator's output is at least 64 bits (hex); shorter is guessable, or a name. */
export const MIN_TOKEN_LENGTH = 16;
export const TENANT = /^[A-Za-z0-9._-]{1,64}$/;

const FORMAT = 'token=tenant[:role] (a tenant is 1-64 of A-Z a-z 0-9 . _ -, a role "bridge" or "admin")';
const NOT_SHOWN = "neither side is shown, as either may be the token";

/** A token: no spaces or commas, at least MIN_TOKEN_LENGTH long, and not only letters and . _ - (so a tenant name cannot pass for one). */
function tokenProblem(token: string): string | undefined {
  if (token === "" || /[\s,]/.test(token)) return "has no token before the last \"=\", or one with spaces or commas";
  if (token.length < MIN_TOKEN_LENGTH || /^[A-Za-z._-]+$/.test(token)) {
    return `has a token shorter than ${MIN_TOKEN_LENGTH} characters or made only of letters and . _ - (generate one with \`openssl rand -hex 32\`; is the pair written backwards, tenant=token?)`;
  }
  return undefined;
}

/** A tenant as long as a token, mixing upper case, lower case and digits, is most likely a token written on the wrong side. */
function looksGenerated(tenant: string): boolean {
  return tenant.length >= MIN_TOKEN_LENGTH && /[a-z]/.test(tenant) && /[A-Z]/.test(tenant) && /[0-9]/.test(tenant);
}

/**
 * One `token=tenant[:role]`; `where` names it ("entry 2", or "auth-tokens-file
 * line 3 of /etc/tokens", a `sentence` that names its setting itself). The
 * token may hold "=" (base64 padding): the last one separates.
 */
export function parsePair(text: string, where: string, sentence: boolean): TokenGrant {
  const item = text.trim();
  const eq = item.lastIndexOf("=");
  if (eq < 0) throw new Invalid(`${where} is not ${FORMAT}; ${NOT_SHOWN}`, sentence);
  return grantOf(item.slice(0, eq).trim(), item.slice(eq + 1).trim(), where, sentence);
}

/** A token and its `tenant[:role]`, checked as parsePair does. */
export function grantOf(token: string, right: unknown, where: string, sentence: boolean): TokenGrant {
  const parts = typeof right === "string" ? right.split(":") : [];
  const [tenant = "", role = DEFAULT_ROLE] = parts;
  if (parts.length < 1 || parts.length > 2 || !TENANT.test(tenant) || !(ROLES as readonly string[]).includes(role)) {
    throw new Invalid(`${where} is not ${FORMAT}; ${NOT_SHOWN}`, sentence);
  }
  const problem = tokenProblem(token);
  if (problem !== undefined) throw new Invalid(`${where} ${problem}; ${NOT_SHOWN}`, sentence);
  if (looksGenerated(tenant)) {
    throw new Invalid(`${where} names a tenant that looks like a generated token (16+ characters mixing upper case, lower case and digits); is the pair written backwards? ${NOT_SHOWN}`, sentence);
  }
  return { token, tenant, role: role as Role };
}

/** Refuses a token given twice (in one source, or across the flag and the file): which tenant would it be? */
export function checkDistinct(grants: readonly { grant: TokenGrant; where: string }[], sentence: boolean): void {
  const seen = new Map<string, string>();
  for (const { grant, where } of grants) {
    const earlier = seen.get(grant.token);
    if (earlier !== undefined) throw new Invalid(`${where} repeats the token of ${earlier}`, sentence);
    seen.set(grant.token, where);
  }
}

/** --auth-tokens: "token=tenant[:role],…" from a flag or env, or {token: "tenant[:role]"} from a config file. */
export function readAuthTokens(value: unknown): TokenGrant[] {
  const named: { grant: TokenGrant; where: string }[] = [];
  if (typeof value === "string") {
    const items = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
    items.forEach((item, i) => named.push({ grant: parsePair(item, `entry ${i + 1}`, false), where: `entry ${i + 1}` }));
  } else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    Object.entries(value).forEach(([token, right], i) => named.push({ grant: grantOf(token.trim(), right, `entry ${i + 1}`, false), where: `entry ${i + 1}` }));
  } else {
    throw new Invalid('must be token=tenant[:role] pairs separated by commas, or in a config file an object {token: "tenant[:role]"}');
  }
  checkDistinct(named, false);
  return named.map((n) => n.grant);
}
