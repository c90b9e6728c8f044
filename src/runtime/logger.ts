import { type DestinationStream, type Logger, type LevelWithSilent, pino } from "pino";

export type { Logger };

/*
 * What may be logged: ids (conversation_id, tenant, owner_id, epochs, seq),
 * counts, sizes, durations, RPC names, status codes and errors. What must never
 * be logged: audio, conversation text, function-call arguments and results,
 * metadata values, bearer tokens. Sessions hold what callers said on the phone;
 * logs are shipped, retained and read far more widely than the store is, so a
 * log line that carries a transcript is a data leak. Log a session by its ids,
 * never by passing the Session (or a request) object.
 *
 * censored() is a safety net for the mistake of logging such an object
 * anyway; it is not permission to do so. It reaches the top level and one
 * level down, of the object a line logs and of a child logger's bindings.
 *
 * It is written here rather than given to pino as redact paths because
 * pino's wildcard paths (`*.text`) run a redactor over every value of every
 * line: a resume's line took ~20 µs with them and takes ~2.4 µs with this,
 * about what it takes with no safety net at all (bench/log-line.ts). This
 * looks at each key once and copies only an object it has to censor.
 */
export const SENSITIVE_KEYS: ReadonlySet<string> = new Set([
  "conversationHistory",
  "appendHistory",
  "audioBuffer",
  "appendAudio",
  "functionCalls",
  "upsertFunctionCalls",
  "text",
  "data",
  "authorization",
  "authTokens",
]);

const CENSOR = "[redacted]";

/** `obj` with each sensitive key's value censored, at its top level and one level down: `obj` itself when there is none. */
function censored<T extends object>(obj: T): T {
  let copy: Record<string, unknown> | undefined;
  for (const key in obj) {
    const value: unknown = obj[key];
    let replacement: unknown;
    if (SENSITIVE_KEYS.has(key)) replacement = CENSOR;
    else if (typeof value === "object" && value !== null && hasSensitiveKey(value)) replacement = censoredCopy(value);
    else continue;
    copy ??= { ...obj } as Record<string, unknown>;
    copy[key] = replacement;
  }
  return (copy ?? obj) as T;
}

function hasSensitiveKey(value: object): boolean {
  for (const key in value) if (SENSITIVE_KEYS.has(key)) return true;
  return false;
}

/** A copy of `value` with its sensitive keys censored; an error stays an error, its message and stack kept, for pino's serializer. */
function censoredCopy(value: object): object {
  const copy: Record<string, unknown> = value instanceof Error ? Object.assign(Object.create(Object.getPrototypeOf(value) as object) as object, { message: value.message, stack: value.stack }) : {};
  for (const key in value) copy[key] = SENSITIVE_KEYS.has(key) ? CENSOR : (value as Record<string, unknown>)[key];
  return copy;
}

/**
 * The root logger: one JSON object per line on stdout (or `destination`, for
 * tests). Modules take a child, `logger.child({ module: "server" })`, so every
 * line says where it came from.
 *
 * Writes are synchronous: a sidecar logs little, and a synchronous stdout keeps
 * the last lines ("stopped", a fatal error) from being lost on process.exit and
 * keeps them in order with what goes to stderr.
 */
export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  const root = pino(
    {
      level,
      // Children inherit the log formatter; only the bindings formatter is reset for them.
      formatters: { log: censored },
      // ISO time reads without conversion in `kubectl logs` and sorts as text.
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
  // A child is made from its parent's prototype, so every child, and each of theirs, makes children through this.
  const child = root.child;
  root.child = function (this: Logger, bindings, options) {
    return child.call(this, censored(bindings), options);
  } as typeof root.child;
  return root;
}
