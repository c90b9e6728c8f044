import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Path of an outside tool the tests drive: the copy scripts/ensure-test-tools.sh
 * installed into .tools/bin, else the one on PATH. Missing is an error, never a
 * skip: `npm test` installs what it needs first.
 */
export function toolPath(name: string): string {
  const local = fileURLToPath(new URL(`../../.tools/bin/${name}`, import.meta.url));
  if (existsSync(local)) return local;
  try {
    return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(`${name} is not installed; run scripts/ensure-test-tools.sh (npm test does)`);
  }
}
