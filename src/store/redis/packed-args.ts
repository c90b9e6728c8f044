/** Grown to the largest commit packed so far; a session's commit is bounded by the request limits. */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * Many script arguments as one: each a 4-byte big-endian length, then its
 * bytes (a string as UTF-8). The commit script unpacks it (scripts.ts).
 * ioredis spends per argument — a length header, a byte count, a piece of
 * the command's buffer — and a session's commit has ~25 of them; packed,
 * the sidecar's CPU per update at 750 Redis calls fell by a tenth.
 *
 * Fields are written as they are made into one scratch buffer that every
 * PackedArgs shares (each is filled and done with before the next begins:
 * nothing here waits), and done() copies them out at their exact size, so
 * that no field is copied into a buffer of its own first (BENCHMARKS.md). A
 * buffer of the exact size comes from Node's pool when under 4 KiB, as one
 * audio append's commit is.
 */
export class PackedArgs {
  private buffer = scratch;
  private at = 0;

  string(value: string): this {
    this.room(4 + 3 * value.length);
    const length = value.length === 0 ? 0 : this.buffer.write(value, this.at + 4);
    return this.prefix(length);
  }

  /** A number as its decimal text, which the script reads with tonumber. */
  number(value: number | bigint): this {
    return this.string(String(value));
  }

  bytes(value: Uint8Array): this {
    this.room(4 + value.length);
    this.buffer.set(value, this.at + 4);
    return this.prefix(value.length);
  }

  /** A field of `size` bytes that `write` puts at the offset it is given. */
  encoded(size: number, write: (out: Buffer, at: number) => unknown): this {
    this.room(4 + size);
    write(this.buffer, this.at + 4);
    return this.prefix(size);
  }

  /** The packed fields, copied out of the scratch buffer. */
  done(): Buffer {
    const packed = Buffer.allocUnsafe(this.at);
    this.buffer.copy(packed, 0, 0, this.at);
    return packed;
  }

  private prefix(length: number): this {
    this.buffer.writeUInt32BE(length, this.at);
    this.at += 4 + length;
    return this;
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const larger = Buffer.allocUnsafe(Math.max(2 * this.buffer.length, this.at + bytes));
    this.buffer.copy(larger, 0, 0, this.at);
    this.buffer = larger;
    scratch = larger;
  }
}
