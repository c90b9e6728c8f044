import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { errorSummaryOf, SessionStoreClient, type SessionStoreClientOptions } from "../client/index.js";
import { DurationError, parseDuration } from "../config/duration.js";
import { EXIT_FAILURE, EXIT_USAGE, fail } from "./exit.js";

/**
 * How the operator commands (sessions, stats, watch) reach a running sidecar:
 * over gRPC like any bridge, so they work whatever the backend and go through
 * the sidecar's auth and TLS, and the tenant is the token's.
 */
export interface SidecarFlags {
  address?: string;
  token?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  timeout?: string;
  json?: boolean;
}

export const DEFAULT_ADDRESS = "127.0.0.1:50051";

export const SIDECAR_HELP_AFTER = `
The sidecar is reached over gRPC, as a bridge reaches it: --address (or
SESSIONSTORE_ADDRESS) names it, --token (or SESSIONSTORE_TOKEN) is sent as
"authorization: Bearer <token>" when it has auth on, and the token's tenant is
the one whose sessions are shown. --tls-ca makes the call over TLS, to a
--tls-listen address; add --tls-cert and --tls-key when the sidecar asks for a
client certificate. Durations are written 500ms, 10s, 5m, 1h30m or 7d.
Exit status: 0 done, 1 the call failed (the line says its gRPC code, the
ErrorInfo reason and details), 2 a usage error.`;

/** Adds the connection flags (and --json) to a command that calls a sidecar. */
export function withSidecarOptions(command: Command): Command {
  return command
    .option("--address <host:port>", `the sidecar's gRPC address, host:port or unix:/path (default: ${DEFAULT_ADDRESS}; env SESSIONSTORE_ADDRESS)`)
    .option("--token <token>", "bearer token, for a sidecar with auth on (env SESSIONSTORE_TOKEN)")
    .option("--tls-ca <file>", "PEM CA certificates the sidecar's certificate must chain to: call over TLS")
    .option("--tls-cert <file>", "PEM client certificate, for a sidecar that requires one (mTLS; with --tls-ca)")
    .option("--tls-key <file>", "PEM private key of --tls-cert")
    .option("--timeout <duration>", "deadline of each call (default: 10s)")
    .option("--json", "print JSON (one object per line) instead of text for people");
}

/** A client for the flags, or a usage error naming the flag at fault. */
export function clientOf(flags: SidecarFlags): SessionStoreClient {
  const address = flags.address ?? nonEmpty(process.env.SESSIONSTORE_ADDRESS) ?? DEFAULT_ADDRESS;
  const token = flags.token ?? nonEmpty(process.env.SESSIONSTORE_TOKEN);
  const options: SessionStoreClientOptions = {
    timeoutMs: timeoutOf(flags.timeout),
    // One attempt: an operator asking wants the answer of now, and a sidecar
    // that is down should be said to be down at once, not after backoff.
    retry: false,
  };
  if (token !== undefined) options.token = token;
  if (flags.tlsCa !== undefined || flags.tlsCert !== undefined || flags.tlsKey !== undefined) {
    if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) fail(EXIT_USAGE, "--tls-cert and --tls-key go together");
    if (flags.tlsCa === undefined) fail(EXIT_USAGE, "--tls-cert needs --tls-ca: the client certificate is sent over TLS only");
    withoutIpServerNameWarning();
    options.tls = {
      ca: readPem(flags.tlsCa, "--tls-ca"),
      ...(flags.tlsCert === undefined ? {} : { cert: readPem(flags.tlsCert, "--tls-cert"), key: readPem(flags.tlsKey as string, "--tls-key") }),
    };
  }
  return new SessionStoreClient(address, options);
}

/**
 * Runs a command's calls and closes the client; a failed call is one line on
 * stderr — the gRPC code, the reason, the message and the ErrorInfo — and exit 1.
 */
export async function withClient(flags: SidecarFlags, run: (client: SessionStoreClient) => Promise<void>): Promise<void> {
  const client = clientOf(flags);
  try {
    await run(client);
  } catch (err) {
    client.close();
    fail(EXIT_FAILURE, errorSummaryOf(err));
  }
  client.close();
}

/**
 * grpc-js sends the host of --address as the TLS server name, and for an IP
 * address (a sidecar's pod IP, 127.0.0.1) Node prints a deprecation warning
 * (DEP0123) on stderr, where it would be read as the command's error. The
 * certificate is verified against the address either way; that one warning
 * is dropped, every other is printed as usual.
 */
function withoutIpServerNameWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    const code = typeof rest[0] === "object" && rest[0] !== null ? (rest[0] as { code?: unknown }).code : rest[1];
    if (code !== "DEP0123") emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

function timeoutOf(text: string | undefined): number {
  if (text === undefined) return 10_000;
  try {
    const ms = parseDuration(text);
    if (ms > 0) return ms;
    fail(EXIT_USAGE, "--timeout must be longer than 0s");
  } catch (err) {
    if (err instanceof DurationError) fail(EXIT_USAGE, `--timeout: ${err.message}`);
    throw err;
  }
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    fail(EXIT_USAGE, `${flag} ${file} cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}
