/**
 * Durations as operators write them in flags, env and config files: `300s`,
 * `24h`, `1h30m`, `500ms`, `1.5h`, `7d`. A number without a unit is refused
 * rather than guessed at: "300" could mean seconds or milliseconds, and a
 * wrong guess turns a 5-minute sweep into one every 300 ms.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  // Go's time.ParseDuration stops at hours; days are accepted because session
  // ages are naturally written in days ("7d") and the meaning is unambiguous.
  d: 86_400_000,
};

// `ms` must come before `m` and `s` so "500ms" is not read as 500 minutes plus garbage.
const PART = /(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)/y;
const BARE_NUMBER = /^\d+(?:\.\d+)?$/;

/** Why a text is not a duration; the message is meant for the person who wrote it. */
export class DurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DurationError";
  }
}

/** Milliseconds in a duration such as `1h30m`; fractions of a millisecond are rounded. */
export function parseDuration(text: string): number {
  const input = text.trim();
  if (input === "") throw new DurationError('empty duration (write e.g. "300s" or "1h30m")');
  if (BARE_NUMBER.test(input)) throw new DurationError(`"${input}" has no unit (write a unit: ${input}s)`);

  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < input.length) {
    const start = PART.lastIndex;
    const match = PART.exec(input);
    if (match === null) {
      throw new DurationError(
        `"${input}" is not a duration: cannot read "${input.slice(start)}" (write e.g. "300s", "24h", "1h30m", "500ms"; units ms, s, m, h, d)`,
      );
    }
    // The regex only matches units present in UNIT_MS, so the lookup cannot miss.
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  }
  const ms = Math.round(total);
  if (!Number.isSafeInteger(ms)) throw new DurationError(`"${input}" is too long`);
  return ms;
}

const FORMAT_UNITS: ReadonlyArray<[string, number]> = [
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1_000],
  ["ms", 1],
];

/**
 * The shortest text parseDuration reads back as `ms` (rounded to whole
 * milliseconds): 86400000 → "24h", 5400000 → "1h30m", 0 → "0s". Days are not
 * used so that defaults print the way the docs write them ("24h").
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot format ${ms} ms as a duration`);
  let rest = Math.round(ms);
  if (rest === 0) return "0s";
  let text = "";
  for (const [unit, size] of FORMAT_UNITS) {
    const count = Math.floor(rest / size);
    if (count > 0) {
      text += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return text;
}
