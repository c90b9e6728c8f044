import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { AddressInUse, isAddressInUse } from "../server/address-in-use.js";

export interface RunningMetricsServer {
  /** host:port actually bound (the real port when 0 was asked for). */
  address: string;
  close(): Promise<void>;
}

/**
 * Serves the registry at GET /metrics in Prometheus's text format, on an
 * HTTP listener of its own: scrapes never share the gRPC port, so a
 * Prometheus needs no HTTP/2, and a flood of scrapes cannot take a stream a
 * bridge needs. Anything but /metrics is 404.
 */
export async function startMetricsServer(listen: string, registry: Registry, logger: Logger): Promise<RunningMetricsServer> {
  const log = logger.child({ module: "metrics" });
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found; metrics are at /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("only GET\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(req.method === "HEAD" ? undefined : text),
      (err: unknown) => {
        log.warn({ err }, "cannot collect metrics");
        res.writeHead(500, { "content-type": "text/plain" }).end("cannot collect metrics; the sidecar's log has the cause\n");
      },
    );
  });
  const separator = listen.lastIndexOf(":");
  const host = listen.slice(0, separator).replace(/^\[(.*)\]$/, "$1");
  const port = Number(listen.slice(separator + 1));
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(isAddressInUse(err) ? new AddressInUse(listen, "--metrics-listen") : err));
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: `${listen.slice(0, separator)}:${bound.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
