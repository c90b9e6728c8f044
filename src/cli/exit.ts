/**
 * The command line's exit statuses, the same for every command: 0 done,
 * 1 a failure at run time (a call refused, damage found, a file that cannot
 * be written), 2 a usage error (bad flags or settings, an address in use,
 * a file that is not what the command needs).
 */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** One line on stderr, "sessionstore: …", and the exit. */
export function fail(code: number, message: string): never {
  process.stderr.write(`sessionstore: ${message}\n`);
  process.exit(code);
}
