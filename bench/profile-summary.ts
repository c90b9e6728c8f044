/**
 * Sums the self time of a V8 CPU profile (node --cpu-prof, e.g. the call
 * simulator's PROFILE_DIR) by function and by file, and prints the top of
 * each as shares of the profile's sampled time. Shares stay meaningful on a
 * loaded machine, where absolute times do not.
 *
 * Run: node --import tsx bench/profile-summary.ts FILE.cpuprofile [TOP (default 25)]
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A file's place in the repository or in node_modules, without the machine's path before it. */
function shortUrl(url: string): string {
  if (url === "") return "(native)";
  const modules = url.lastIndexOf("node_modules/");
  if (modules >= 0) return url.slice(modules + "node_modules/".length);
  const dist = url.search(/\/(dist|src)\//);
  return dist >= 0 ? url.slice(dist + 1) : url.replace(/^file:\/\//, "");
}

function summarize(profile: Profile): { total: number; byFunction: Map<string, number>; byFile: Map<string, number> } {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    // A sample's time is the delta to the next sample.
    const us = profile.timeDeltas[i + 1] ?? 0;
    const frame = nodes.get(id)!.callFrame;
    const file = shortUrl(frame.url);
    const fn = `${frame.functionName || "(anonymous)"} ${file}${frame.url ? `:${frame.lineNumber + 1}` : ""}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
    total += us;
  });
  return { total, byFunction, byFile };
}

function top(map: Map<string, number>, total: number, count: number): string[] {
  return [...map].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, us]) => `${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`);
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error("usage: profile-summary FILE.cpuprofile [TOP]");
  process.exit(2);
}
const count = Number(topArg ?? 25);
const { total, byFunction, byFile } = summarize(JSON.parse(readFileSync(file, "utf8")) as Profile);
const idle = (byFunction.get("(idle) (native)") ?? 0) + (byFunction.get("(program) (native)") ?? 0);
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled, ${((100 * (total - idle)) / total).toFixed(1)} % not idle\n\nby function:`);
console.log(top(byFunction, total, count).join("\n"));
console.log("\nby file:");
console.log(top(byFile, total, count).join("\n"));
