/**
 * Many script arguments as one: each a 4-byte big-endian length, then its
 * bytes (a string as UTF-8). The commit script unpacks it (scripts.ts).
 * ioredis spends per argument — a length header, a byte count, a piece of
 * the command's buffer — and a session's commit has ~25 of them; packed,
 * the sidecar's CPU per update at 750 Redis calls fell by a tenth.
 */
export function packArgs(args: readonly (string | Buffer)[]): Buffer {
  let size = 0;
  for (const arg of args) size += 4 + (typeof arg === "string" ? Buffer.byteLength(arg) : arg.length);
  const packed = Buffer.allocUnsafe(size);
  let at = 0;
  for (const arg of args) {
    const length = typeof arg === "string" ? (arg.length === 0 ? 0 : packed.write(arg, at + 4)) : arg.copy(packed, at + 4);
    packed.writeUInt32BE(length, at);
    at += 4 + length;
  }
  return packed;
}
