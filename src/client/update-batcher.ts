import { concatFields } from "../grpc/length-delimited.js";

/** How BridgeUpdateStream coalesces writes into StreamUpdateBatches messages. */
export interface Batching {
  /**
   * How long a write may wait for others to share its message. 0 sends what
   * was written in the same turn of the event loop together. Default 2 ms:
   * well below a 20 ms audio frame, and enough for a bridge with a few
   * hundred calls to send a few dozen updates a message.
   */
  lingerMs?: number;
  /** Updates in one message at most. Default 500. */
  maxUpdates?: number;
  /** Encoded bytes in one message at most (well below the sidecar's 4 MiB default limit). Default 1 MiB. */
  maxBytes?: number;
}

const defaults: Required<Batching> = { lingerMs: 2, maxUpdates: 500, maxBytes: 1024 * 1024 };

/**
 * Gathers encoded SessionUpdates and writes them as StreamUpdateBatchesRequest
 * messages: when the linger has passed since the first of them, or sooner
 * when a message is full. The request's only field is the repeated update,
 * so a message is the updates' bytes each behind its field tag and length
 * (concatFields), and an update encoded once is never encoded again, not even
 * for a replay.
 */
export class UpdateBatcher {
  private queued: Uint8Array[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;

  constructor(
    private readonly options: Required<Batching>,
    private readonly write: (message: Uint8Array) => void,
  ) {}

  static resolve(batching: Batching | undefined): Required<Batching> {
    const options = { ...defaults, ...batching };
    if (!(options.lingerMs >= 0) || !Number.isInteger(options.maxUpdates) || options.maxUpdates < 1 || !(options.maxBytes > 0)) {
      throw new RangeError(`batching needs lingerMs ≥ 0, an integer maxUpdates ≥ 1 and maxBytes > 0, got ${JSON.stringify(batching)}`);
    }
    return options;
  }

  add(encoded: Uint8Array): void {
    // A message that would grow past maxBytes goes first; a single larger update still goes, alone.
    if (this.queued.length > 0 && this.bytes + encoded.length > this.options.maxBytes) this.flush();
    this.queued.push(encoded);
    this.bytes += encoded.length;
    if (this.queued.length >= this.options.maxUpdates || this.bytes >= this.options.maxBytes) this.flush();
    else if (this.timer === undefined) {
      this.timer = this.options.lingerMs === 0 ? setImmediate(() => this.flush()) : setTimeout(() => this.flush(), this.options.lingerMs);
    }
  }

  /** Writes what is queued now. */
  flush(): void {
    this.clearTimer();
    if (this.queued.length === 0) return;
    const message = concatFields(1, this.queued);
    this.queued = [];
    this.bytes = 0;
    this.write(message);
  }

  /** Drops what is queued: the stream it was for is gone (its updates are replayed on the next one). */
  cancel(): void {
    this.clearTimer();
    this.queued = [];
    this.bytes = 0;
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    if (this.options.lingerMs === 0) clearImmediate(this.timer as NodeJS.Immediate);
    else clearTimeout(this.timer as NodeJS.Timeout);
    this.timer = undefined;
  }
}
