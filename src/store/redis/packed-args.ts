/**
 * Commits are written into a slab and handed on as views of it; a full slab
 * is left to the commits in it (freed once none is referenced: ioredis holds
 * a commit's argument until its reply) and a fresh one begun.
 */
const SLAB_BYTES = 128 * 1024;
let slab = Buffer.allocUnsafe(SLAB_BYTES);
/** Where the next commit begins in the slab. */
let slabUsed = 0;

/**
 * Many script arguments as one: each a 4-byte big-endian length, then its
 * bytes (a string as UTF-8). The commit script unpacks it (scripts.ts).
 * ioredis spends per argument — a length header, a byte count, a piece of
 * the command's buffer — and a session's commit has ~25 of them; packed,
 * the sidecar's CPU per update at 750 Redis calls fell by a tenth.
 *
 * Fields are written as they are made, straight into the slab (each
 * PackedArgs is filled and done with before the next begins: nothing here
 * waits), so that no field is copied into a buffer of its own first and the
 * commit is not copied out either (BENCHMARKS.md).
 */
/**
 * Most of a commit's strings are short ASCII (field names, numbers, etags,
 * ids), and for those Buffer.write's call into C++ costs more than the copy:
 * byte by byte ~20 ns a string here against ~80 (BENCHMARKS.md).
 */
const SHORT_TEXT = 32;

/** `text` as bytes at `at` when it is all ASCII, returning its length; -1 (some bytes written) otherwise. */
function asciiInto(buffer: Buffer, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return -1;
    buffer[at + i] = code;
  }
  return text.length;
}

export class PackedArgs {
  private buffer = slab;
  private start = slabUsed;
  private at = slabUsed;

  string(value: string): this {
    this.room(4 + 3 * value.length);
    const at = this.at + 4;
    let length = value.length <= SHORT_TEXT ? asciiInto(this.buffer, at, value) : -1;
    if (length < 0) length = this.buffer.write(value, at);
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

  /** The packed fields: a view of the slab, which the next commit begins after. */
  done(): Buffer {
    slabUsed = this.at;
    return this.buffer.subarray(this.start, this.at);
  }

  private prefix(length: number): this {
    this.buffer.writeUInt32BE(length, this.at);
    this.at += 4 + length;
    return this;
  }

  /** A fresh slab when this one has not `bytes` left, with what this commit wrote so far moved to its start. */
  private room(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const written = this.at - this.start;
    const fresh = Buffer.allocUnsafe(Math.max(SLAB_BYTES, 2 * (written + bytes)));
    this.buffer.copy(fresh, 0, this.start, this.at);
    this.buffer = fresh;
    this.start = 0;
    this.at = written;
    slab = fresh;
    slabUsed = 0;
  }
}
