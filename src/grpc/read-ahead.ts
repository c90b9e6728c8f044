import type { Readable } from "node:stream";

/** Node's own high-water mark for object-mode streams, which grpc-js's calls keep. */
const NODE_DEFAULT_MESSAGES = 16;

/**
 * Bounds, in bytes, what grpc-js reads and decodes ahead of a streaming
 * handler. grpc-js reads request messages into the call's Readable until it
 * holds the Readable's high-water mark — 16 messages — whether or not the
 * handler paused the call, and takes no option for it. Sixteen small
 * messages ahead keep a busy stream fed; sixteen 1 MiB batches held for a
 * full commit queue are 16 MiB decoded for nothing, and past capacity twenty
 * such streams kept hundreds of MiB for the garbage collector to walk
 * (docs/BENCHMARKS.md, "4× capacity"). So the mark follows the messages'
 * size: as many of the last one's size as fit in the bound, from one to 16.
 *
 * The mark lives in the Readable's internal state; a Node without that field
 * keeps its default, which costs memory past capacity and nothing else.
 */
export class ReadAhead {
  private readonly state: { highWaterMark: number } | undefined;

  constructor(
    call: Readable,
    private readonly maxBytes: number,
  ) {
    const state = (call as unknown as { _readableState?: { highWaterMark?: unknown } })._readableState;
    this.state = typeof state?.highWaterMark === "number" ? (state as { highWaterMark: number }) : undefined;
  }

  /** Sets the mark for messages the size of the one just received. */
  received(messageBytes: number): void {
    if (this.state === undefined) return;
    this.state.highWaterMark = Math.min(NODE_DEFAULT_MESSAGES, Math.max(1, Math.floor(this.maxBytes / Math.max(1, messageBytes))));
  }
}
