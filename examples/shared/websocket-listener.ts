import { type WebSocket, WebSocketServer } from "ws";

/** Where a reference bridge takes its platform's WebSocket connections. */
export interface WebSocketListener {
  /** ws://host:port, with the port the system chose for port 0. */
  url: string;
  /** Hangs up every open socket (1001, going away), then stops listening. */
  close(): Promise<void>;
}

/**
 * Listens on `--listen host:port` for a platform's WebSockets, handing each
 * new one to `onConnection`; resolves once listening, or rejects (e.g. the
 * port is taken). Both bridges take their platform's sockets this way.
 */
export async function listenForSockets(listen: string, onConnection: (ws: WebSocket) => void): Promise<WebSocketListener> {
  const { host, port } = splitHostPort(listen);
  const server = new WebSocketServer({ host, port });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  server.on("connection", onConnection);
  const address = server.address();
  return {
    url: typeof address === "object" && address !== null ? `ws://${address.address}:${address.port}` : String(address),
    async close() {
      for (const ws of server.clients) ws.close(1001, "bridge shutting down");
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * `--listen host:port` as `ws`'s server options want it: host 127.0.0.1 when
 * only a port is given, IPv6 brackets removed; port 0 picks a free one.
 */
function splitHostPort(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(":");
  const port = Number(at < 0 ? listen : listen.slice(at + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--listen: "${listen}" is not host:port`);
  return { host: at <= 0 ? "127.0.0.1" : listen.slice(0, at).replace(/^\[|\]$/g, ""), port };
}
