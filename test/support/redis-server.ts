import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { toolPath } from "./tools.js";

/**
 * A real redis-server for tests: loopback only, on a free port, its data in a
 * temp dir, with every write fsynced to the append-only file before Redis
 * answers it (what the sidecar's "acknowledged means durable" needs) unless
 * told otherwise. It can be killed like a crashed server and restarted on
 * the same port and data.
 */
export interface RedisServer {
  port: number;
  /** redis://127.0.0.1:<port>, or rediss://… when started with TLS. */
  url: string;
  dir: string;
  /** With TLS: the private CA that signed the server's certificate, for NODE_EXTRA_CA_CERTS. */
  caFile: string | undefined;
  /** Kills it with SIGKILL, as a crash would, and waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data dir; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** Stops it and removes its data dir. */
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  /** Serve TLS only, with a certificate for 127.0.0.1 from a CA made for this server. */
  tls?: boolean;
  /** Require this password (AUTH) from every client. */
  password?: string;
  /** Persistence other than the durable default (appendonly yes, appendfsync always). */
  appendonly?: "yes" | "no";
  appendfsync?: "always" | "everysec" | "no";
  /** Disable CONFIG, as managed Redis services often do. */
  withoutConfigCommand?: boolean;
  /** More redis-server flags, e.g. --replicaof or --cluster-enabled. */
  extraArgs?: string[];
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "sessionstore-redis-"));
  const port = await freePort();
  const tlsArgs = options.tls ? makeCertificates(dir) : [];
  const serverArgs = [
    ...(options.tls ? ["--port", "0", "--tls-port", String(port), ...tlsArgs] : ["--port", String(port)]),
    ...(options.password !== undefined ? ["--requirepass", options.password] : []),
    "--appendonly", options.appendonly ?? "yes",
    "--appendfsync", options.appendfsync ?? "always",
    ...(options.withoutConfigCommand ? ["--rename-command", "CONFIG", ""] : []),
    ...(options.extraArgs ?? []),
  ];
  let proc: ChildProcess | undefined = await launch(serverArgs, dir);

  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    const running = proc;
    proc = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    running.kill(signal);
    // Redis can refuse a SIGTERM and go on running: a replica that has just synced logs
    // "Writing initial AOF, can't exit." and forgets the signal. A test's data dir is
    // thrown away after stop(), so a server still there after a while is killed.
    const refused = setTimeout(() => running.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(refused);
  };

  return {
    port,
    url: `${options.tls ? "rediss" : "redis"}://127.0.0.1:${port}`,
    dir,
    caFile: options.tls ? join(dir, "ca.crt") : undefined,
    kill: () => kill("SIGKILL"),
    async restart() {
      await kill("SIGKILL");
      proc = await launch(serverArgs, dir);
    },
    async stop() {
      await kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs redis-server and resolves once its log says it is ready (after loading the AOF, on a restart). */
function launch(serverArgs: string[], dir: string): Promise<ChildProcess> {
  const args = [
    ...serverArgs,
    "--bind", "127.0.0.1",
    "--dir", dir,
    // The AOF is the durability under test; RDB snapshots would only add noise.
    "--save", "",
    "--logfile", "",
    "--daemonize", "no",
  ];
  const proc = spawn(toolPath("redis-server"), args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      reject(new Error(`redis-server exited (${code ?? signal}) before it was ready:\n${output}`));
    proc.once("exit", onExit);
    proc.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      output += `${line}\n`;
      if (line.includes("Ready to accept connections")) {
        proc.off("exit", onExit);
        resolve(proc);
      }
    });
  });
}

/** A CA and a server certificate for 127.0.0.1 signed by it, in `dir`; returns redis-server's TLS flags. */
function makeCertificates(dir: string): string[] {
  const openssl = (...args: string[]) => execFileSync(toolPath("openssl"), args, { cwd: dir, stdio: "ignore" });
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=sessionstore test CA");
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(join(dir, "san.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "san.cnf");
  // Clients need no certificate of their own: rediss:// with a password is the setup the sidecar documents.
  const file = (name: string) => join(dir, name);
  return ["--tls-cert-file", file("server.crt"), "--tls-key-file", file("server.key"), "--tls-ca-cert-file", file("ca.crt"), "--tls-auth-clients", "no"];
}

/** A port the OS had free a moment ago on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
