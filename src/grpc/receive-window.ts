import type { Http2Server, ServerHttp2Session } from "node:http2";
import type { Server } from "@grpc/grpc-js";
import type { Logger } from "../runtime/logger.js";

/**
 * Raises the HTTP/2 receive windows of every connection `server` accepts:
 * each stream may send `streamWindowBytes` ahead of what the sidecar has read,
 * and a connection twice that, so that one stream held back (StreamUpdatesCall
 * stops reading under backpressure) leaves room for the connection's others.
 *
 * Why: Node's HTTP/2 default is 65,535 bytes for both, and a window opens
 * again only as the event loop reads. While one turn of the loop commits a
 * group (tens of milliseconds under load), a bridge's update stream can send
 * no more than one window: at 64 KiB per turn a stream of a few hundred calls'
 * audio was held to a fraction of what the sidecar commits, and the calls'
 * updates waited in the bridge (docs/BENCHMARKS.md, "The HTTP/2 receive
 * window"). grpc-js (1.14) reads `grpc-node.flow_control_window` only on the
 * client, so the server's windows are set here, on the HTTP/2 servers
 * grpc-js made for each bound address: their SETTINGS for new connections
 * (Http2Server.updateSettings) and each new session's connection window.
 *
 * grpc-js keeps those servers in a private field; call this after every
 * bindAsync. Returns false, after a warning, when the field is not what
 * this expects (a grpc-js that changed it): the sidecar then serves with
 * Node's default windows, slower but correct.
 */
export function raiseReceiveWindows(server: Server, streamWindowBytes: number, log: Logger): boolean {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) {
    log.warn("grpc-js keeps its HTTP/2 servers elsewhere than this sidecar expects: serving with HTTP/2's default 64 KiB receive windows");
    return false;
  }
  for (const http2Server of servers.keys() as IterableIterator<Http2Server>) {
    if (raised.has(http2Server)) continue;
    raised.add(http2Server);
    http2Server.updateSettings({ initialWindowSize: streamWindowBytes });
    http2Server.on("session", (session: ServerHttp2Session) => session.setLocalWindowSize(2 * streamWindowBytes));
  }
  return true;
}

/** HTTP/2 servers already given their windows: a second bind must not add a second listener to the first's. */
const raised = new WeakSet<Http2Server>();
