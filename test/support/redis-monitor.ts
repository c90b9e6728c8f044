import { connect } from "node:net";
import { createInterface } from "node:readline";

/**
 * The commands a Redis runs, as MONITOR reports them, read over a plain
 * socket. ioredis's own monitor() is not used: it enters monitoring mode a
 * turn after MONITOR's reply, so a command another client runs in that gap
 * arrives in the same read and ioredis throws "Command queue state error".
 */
export interface RedisMonitor {
  /** Each command since the monitor started, its arguments unquoted as far as the test needs: name first. */
  commands: string[][];
  close(): void;
}

/** Resolves once Redis (a plain redis:// URL without a password) has started monitoring: every command after that is seen. */
export async function monitorRedis(url: string): Promise<RedisMonitor> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  const commands: string[][] = [];
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.once("connect", () => socket.write("MONITOR\r\n"));
    createInterface({ input: socket }).on("line", (line) => {
      if (line === "+OK") return resolve();
      if (line.startsWith("-")) return reject(new Error(`MONITOR refused: ${line}`));
      // +1700000000.123456 [0 127.0.0.1:50000] "publish" "channel" "payload"
      const args = line.slice(line.indexOf("]") + 1).match(/"(?:[^"\\]|\\.)*"/g) ?? [];
      commands.push(args.map((quoted) => quoted.slice(1, -1)));
    });
  });
  socket.on("error", () => undefined);
  return { commands, close: () => socket.destroy() };
}
