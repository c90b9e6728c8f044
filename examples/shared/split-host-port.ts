/**
 * `--listen host:port` of the reference bridges, as `ws`'s server options want it: host
 * 127.0.0.1 when only a port is given, IPv6 brackets removed; port 0 picks a free one.
 */
export function splitHostPort(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(":");
  const port = Number(at < 0 ? listen : listen.slice(at + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--listen: "${listen}" is not host:port`);
  return { host: at <= 0 ? "127.0.0.1" : listen.slice(0, at).replace(/^\[|\]$/g, ""), port };
}
