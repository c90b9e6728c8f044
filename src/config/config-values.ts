import path from "node:path";
import { DurationError, formatDuration, parseDuration } from "./duration.js";

/**
 * How one configuration value, as text from a flag or env var or as whatever a
 * config file holds, becomes a typed value. Each reader throws Invalid saying
 * what is wrong; config.ts adds the field and source.
 */

/** What is wrong with one value; `sentence` messages already name the field. */
export class Invalid extends Error {
  constructor(message: string, readonly sentence = false) {
    super(message);
  }
}

export type StorageKind = "sqlite" | "memory" | "redis";
export type SqliteSynchronous = "normal" | "full";
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

// Node's setTimeout fires at once for delays over 2^31-1 ms (~24.8 days).
export const TIMER_LIMIT_MS = 24 * 86_400_000;
// grpc-js keeps message limits as signed 32-bit integers.
export const INT32_MAX = 2_147_483_647;
/** The largest HTTP/2 stream window whose double (a connection's window) HTTP/2 can still announce: 2^31 − 1. */
export const HTTP2_WINDOW_MAX = Math.floor(INT32_MAX / 2);
export const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function nonEmpty(value: unknown): string {
  if (typeof value !== "string" || value.trim() === "") throw new Invalid(`must be a non-empty string, got ${show(value)}`);
  return value.trim();
}

export function readPath(value: unknown, cwd: string): string {
  return path.resolve(cwd, nonEmpty(value));
}

/** A file that may be left unset: empty stays "" (off), anything else is resolved against the working directory. */
export function readOptionalPath(value: unknown, cwd: string): string {
  return value === "" ? "" : readPath(value, cwd);
}

export function integer(min: number, max = Number.MAX_SAFE_INTEGER): (value: unknown) => number {
  return (value) => {
    const n = typeof value === "number" ? value : typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
    if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
    const kind = min === 0 ? "a non-negative integer" : min === 1 ? "a positive integer" : `an integer of at least ${min}`;
    throw new Invalid(`must be ${kind}${max < Number.MAX_SAFE_INTEGER ? ` no larger than ${max}` : ""}, got ${show(value)}`);
  };
}

export function duration(minMs: 0 | 1, maxMs = Number.MAX_SAFE_INTEGER): (value: unknown) => number {
  return (value) => {
    let ms: number;
    try {
      // A number from a config file goes through the parser too, to get the "write a unit" hint.
      if (typeof value !== "string" && typeof value !== "number") throw new DurationError(`got ${show(value)}`);
      ms = parseDuration(String(value));
    } catch (err) {
      if (err instanceof DurationError) throw new Invalid(`must be a duration such as 300s or 1h30m: ${err.message}`);
      throw err;
    }
    if (ms < minMs) throw new Invalid(`must be longer than 0s, got ${show(value)}`);
    if (ms > maxMs) throw new Invalid(`must be at most ${formatDuration(maxMs)}, got ${show(value)}`);
    return ms;
  };
}

export function readListen(value: unknown): string {
  const text = nonEmpty(value);
  if (text.startsWith("unix:")) {
    if (text.length > "unix:".length) return text;
    throw new Invalid('must name a socket path after "unix:", e.g. unix:/run/sessionstore.sock');
  }
  const match = /^(?:\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(text);
  if (match === null || Number(match[1]) > 65535) {
    throw new Invalid(`must be host:port, [ipv6]:port or unix:/path, got ${show(value)}`);
  }
  return text;
}

/** A second listener, off when empty. */
export function readOptionalListen(value: unknown): string {
  return value === "" ? "" : readListen(value);
}

/** The metrics HTTP address: host:port or [ipv6]:port, or empty for no metrics endpoint. */
export function readMetricsListen(value: unknown): string {
  if (value === undefined || (typeof value === "string" && value.trim() === "")) return "";
  // Prometheus scrapes over TCP, so unix sockets, which --listen takes, are refused here.
  const text = typeof value === "string" ? value.trim() : "";
  if (!text.startsWith("unix:")) {
    try {
      return readListen(text);
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
    }
  }
  throw new Invalid(`must be host:port or [ipv6]:port (or empty for off), got ${show(value)}`);
}

export function readStorage(value: unknown): StorageKind {
  const kind = nonEmpty(value).toLowerCase();
  if (kind === "sqlite" || kind === "memory" || kind === "redis") return kind;
  throw new Invalid(`must be sqlite, memory or redis, got ${show(value)}`);
}

export function readSqliteSynchronous(value: unknown): SqliteSynchronous {
  const mode = nonEmpty(value).toLowerCase();
  if (mode === "normal" || mode === "full") return mode;
  throw new Invalid(`must be normal or full, got ${show(value)}`);
}

/**
 * On or off: true/false, yes/no, on/off or 1/0 from a flag, env var or config
 * file. A flag given without a value (commander passes true) means on.
 */
export function readSwitch(value: unknown): boolean {
  if (typeof value === "boolean") return value;
  const text = typeof value === "string" || typeof value === "number" ? String(value).trim().toLowerCase() : "";
  if (["true", "yes", "on", "1"].includes(text)) return true;
  if (["false", "no", "off", "0"].includes(text)) return false;
  throw new Invalid(`must be true or false, got ${show(value)}`);
}

/**
 * redis://[user:password@]host[:port][/db] or rediss://… (TLS). The value may
 * hold a password, so no message here ever repeats it.
 */
export function readRedisUrl(value: unknown): string {
  const text = nonEmpty(value);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Invalid("must be a URL such as redis://host:6379 or rediss://user:password@host:6380/0");
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new Invalid(`must start with redis:// or rediss:// (TLS), not ${url.protocol}//`);
  }
  if (url.hostname === "") throw new Invalid("must name a host, as in redis://host:6379");
  if (!/^\/?(\d+)?$/.test(url.pathname)) throw new Invalid("may end only in a database number, as in redis://host:6379/2");
  return text;
}

/** One Redis node (a Sentinel, or a Cluster node) as host and port. */
export interface RedisNode {
  host: string;
  port: number;
}

/**
 * host:port,host:port,… (or a list of them in a config file); empty for none.
 * Hosts are names or IPv4 addresses, or IPv6 in brackets.
 */
export function readRedisNodes(value: unknown): RedisNode[] {
  const items = Array.isArray(value) ? value : typeof value === "string" ? value.split(",") : undefined;
  if (items === undefined) throw new Invalid(`must be host:port pairs separated by commas, got ${show(value)}`);
  const nodes: RedisNode[] = [];
  for (const item of items) {
    const text = typeof item === "string" ? item.trim() : "";
    if (text === "" && typeof value === "string") continue;
    const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\],]+)):(\d{1,5})$/.exec(text);
    if (match === null || Number(match[3]) < 1 || Number(match[3]) > 65535) {
      throw new Invalid(`must be host:port pairs separated by commas, as in 10.0.0.1:26379,10.0.0.2:26379; ${show(item)} is not one`);
    }
    nodes.push({ host: match[1] ?? match[2]!, port: Number(match[3]) });
  }
  return nodes;
}

/** Free text that must not be empty, such as the name Sentinel monitors a primary under. */
export function readName(value: unknown): string {
  return nonEmpty(value);
}

/** A Redis URL fit for logs: the password, if any, replaced. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(not a URL)";
  }
}

/** Put before every Redis key; braces would move keys out of their session's hash slot. */
export function readKeyPrefix(value: unknown): string {
  if (typeof value !== "string" || value === "" || value.length > 128 || /[\s{}]/.test(value)) {
    throw new Invalid(`must be 1-128 characters without spaces or braces, got ${show(value)}`);
  }
  return value;
}

export function readLogLevel(value: unknown): LogLevel {
  const level = nonEmpty(value).toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new Invalid(`must be one of ${LOG_LEVELS.join(", ")}, got ${show(value)}`);
}
