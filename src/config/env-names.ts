/**
 * Which SESSIONSTORE_* environment variables the sidecar accepts. A setting
 * misspelled in a manifest (`SESSIONSTORE_MAXSESSIONS=5`) would otherwise be
 * ignored without a word and the sidecar would run on the default; so a name
 * that is neither a setting nor one of the names below is refused at start,
 * like an unknown key of the config file, with the closest real name.
 */

/** Names read by something other than a setting, and so never refused. */
export const OTHER_ENV_NAMES: ReadonlyMap<string, string> = new Map([
  ["SESSIONSTORE_CONFIG", "the config file (--config)"],
  // The operator commands' own (sessionstore sessions|stats|watch): an
  // operator runs them in the sidecar's container, with its environment.
  ["SESSIONSTORE_ADDRESS", "the sidecar the operator commands call (--address)"],
  ["SESSIONSTORE_TOKEN", "the bearer token of the operator commands (--token)"],
  // The client test suites (clients/python, clients/go) start the sidecar
  // they find here, and their sidecars inherit their environment.
  ["SESSIONSTORE_BIN", "the sessionstore command the client test suites run"],
]);

/**
 * Kubernetes puts `<SERVICE>_SERVICE_HOST`, `<SERVICE>_SERVICE_PORT[_<NAME>]`,
 * `<SERVICE>_PORT` and `<SERVICE>_PORT_<n>_<PROTO>[_PROTO|_PORT|_ADDR]` into
 * every container for each Service of the namespace (unless the pod sets
 * enableServiceLinks: false), so a Service named "sessionstore" or
 * "sessionstore-…" gives names under our prefix that nobody chose.
 */
const SERVICE_LINK = /^SESSIONSTORE(_[A-Z0-9_]+?)?_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$/;

/**
 * One problem per SESSIONSTORE_* variable of `env` that is set (non-empty),
 * is not in `settings` and is none of the other names, each naming the
 * closest real name when there is one.
 */
export function unknownEnvProblems(env: NodeJS.ProcessEnv, settings: readonly string[]): string[] {
  const known = [...settings, ...OTHER_ENV_NAMES.keys()];
  const problems: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith("SESSIONSTORE_") || value === undefined || value.trim() === "") continue;
    if (known.includes(name) || SERVICE_LINK.test(name)) continue;
    const closest = closestName(name, known);
    problems.push(`unknown environment variable ${name}${closest === undefined ? "" : ` (did you mean ${closest}?)`}`);
  }
  return problems.sort();
}

/**
 * The known name nearest to `name`: the same letters without underscores
 * (MAXSESSIONS for MAX_SESSIONS), else the fewest single-character edits when
 * those are few for the name's length. Written here rather than taken from a
 * library: the twenty lines below are all the matching there is to do.
 */
function closestName(name: string, known: readonly string[]): string | undefined {
  const squash = (s: string) => s.replace(/_/g, "");
  const same = known.find((k) => squash(k) === squash(name));
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor((name.length - "SESSIONSTORE_".length) / 3));
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (distance <= bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions of one character. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] as number;
}
