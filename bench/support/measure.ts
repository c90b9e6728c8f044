/** Small measuring helpers shared by the benchmarks: percentiles, process memory, file sizes, machine facts. */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { cpus, totalmem } from "node:os";

/** The q-quantile (0..1) of samples, by the nearest-rank method; sorts a copy. */
export function quantile(samples: ArrayLike<number>, q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function median(samples: ArrayLike<number>): number {
  return quantile(samples, 0.5);
}

/** Resident set size of a process in bytes, from /proc (Linux). */
export function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return line ? Number(line.split(/\s+/)[1]) * 1024 : Number.NaN;
}

/** CPU time (user + system) a process has used, in ms, from /proc (Linux); with `tid`, one of its threads' (the main thread's id is the pid). */
export function cpuMs(pid: number, tid?: number): number {
  const fields = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const ticksPerSecond = 100; // USER_HZ, 100 on every Linux we run on
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

/**
 * Bytes a process has caused to be written to storage (/proc/PID/io
 * write_bytes: pages it dirtied in the page cache, counted when dirtied),
 * its sockets' traffic not included.
 */
export function writtenBytes(pid: number): number {
  return Number(/^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"))![1]);
}

/** Peak RSS of a process, sampled every intervalMs until stopped. */
export function sampleRss(pid: number, intervalMs = 250): { stop(): number } {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // the process has exited; keep the peak seen so far
    }
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

/** Size of an SQLite database on disk: the main file plus its WAL. */
export function databaseBytes(path: string): number {
  return [path, `${path}-wal`].filter(existsSync).reduce((sum, p) => sum + statSync(p).size, 0);
}

export function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

/** The facts a reader needs to compare a run with theirs. */
export function machineFacts(): string {
  const nproc = execFileSync("nproc", { encoding: "utf8" }).trim();
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  return [
    `- nproc: ${nproc} (${cpus()[0]?.model ?? "unknown CPU"})`,
    `- memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `- node: ${process.version}`,
    `- load average at start (1/5/15 min): ${load}`,
  ].join("\n");
}

/** Makes `calls` calls with `inFlight` in flight (`call` gets 0 … calls-1); resolves to the seconds they took. */
export async function inFlightSeconds(inFlight: number, calls: number, call: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < calls) await call(next++);
  }));
  return (performance.now() - start) / 1000;
}
