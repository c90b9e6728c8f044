import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sessionstore } from "../support/cli-run.js";
import { tempDbPath } from "../support/sidecar-process.js";

/** A port some other process holds, as an operator's second sidecar would find it. */
function holdPort(): Promise<{ server: Server; address: string }> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      resolve({ server, address: `127.0.0.1:${port}` });
    });
  });
}

describe("sessionstore serve: mistakes in its settings, refused at start", () => {
  let held: { server: Server; address: string };

  beforeAll(async () => {
    held = await holdPort();
  });
  afterAll(() => {
    held?.server.close();
  });

  it("refuses an unknown SESSIONSTORE_* variable, naming it and the setting meant, exit 2", async () => {
    const run = await sessionstore(["serve", "--storage", "memory", "--listen", "127.0.0.1:0"], { env: { SESSIONSTORE_MAXSESSIONS: "5" } });
    expect(run).toMatchObject({
      code: 2,
      stdout: "",
      stderr: "sessionstore: invalid configuration: unknown environment variable SESSIONSTORE_MAXSESSIONS (did you mean SESSIONSTORE_MAX_SESSIONS?)\n",
    });
  });

  it("says in one line that the port is in use, and exits 2", async () => {
    const run = await sessionstore(["serve", "--sqlite-path", tempDbPath(), "--listen", held.address]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`sessionstore: cannot listen on ${held.address} (--listen): the address is already in use by another process; stop it or choose another --listen\n`);
    // stdout is the JSON log; nothing else is written there, and grpc-js's own line is not at info.
    for (const line of run.stdout.split("\n").filter((l) => l !== "")) expect(JSON.parse(line).level).toBeGreaterThanOrEqual(30);
    expect(run.stdout).not.toContain("No address added");
  });

  it("does the same for the metrics port", async () => {
    const run = await sessionstore(["serve", "--storage", "memory", "--listen", "127.0.0.1:0", "--metrics-listen", held.address]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`sessionstore: cannot listen on ${held.address} (--metrics-listen): the address is already in use by another process; stop it or choose another --metrics-listen\n`);
  });

  it("answers a bad flag of any command with one line and exit 2", async () => {
    for (const args of [["sessions", "list", "--bogus"], ["export", "--bogus"], ["backup", "--to", "x.db", "--bogus"]]) {
      const run = await sessionstore(args);
      expect(run, args.join(" ")).toMatchObject({ code: 2, stdout: "", stderr: "sessionstore: unknown option '--bogus'\n" });
    }
  });

  it("accepts durations in days", async () => {
    const run = await sessionstore(["serve", "--storage", "memory", "--listen", "127.0.0.1:0", "--max-session-age", "2d", "--max-resume-age", "1d12h", "--cleanup-interval", "0.5d"], {
      env: { SESSIONSTORE_MAX_SESSIONS: "abc" },
    });
    // Only the bad value is reported: the durations in days were read.
    expect(run).toMatchObject({ code: 2, stderr: 'sessionstore: invalid configuration: max-sessions (from SESSIONSTORE_MAX_SESSIONS) must be a positive integer, got "abc"\n' });
  });
});
