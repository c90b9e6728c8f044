import type { SessionRecord } from "../../session/record.js";

/**
 * The writer's copies of the headers it last read or wrote, so that a call
 * writing every few milliseconds does not read and decode its header row
 * each time. It can be trusted because the writer is the only one that
 * writes the file (the lock of holdWriterLock) and changes it only through
 * its own transactions; a transaction that fails clears it, since what it
 * changed was rolled back. Least recently used entries go first.
 */
export class HeaderCache {
  private readonly records = new Map<string, SessionRecord>();

  constructor(private readonly capacity: number) {}

  get(tenant: string, conversationId: string): SessionRecord | undefined {
    const key = keyOf(tenant, conversationId);
    const record = this.records.get(key);
    if (record === undefined) return undefined;
    // Again at the end: the Map's order is the eviction order.
    this.records.delete(key);
    this.records.set(key, record);
    return record;
  }

  set(tenant: string, record: SessionRecord): void {
    const key = keyOf(tenant, record.session.conversationId);
    this.records.delete(key);
    this.records.set(key, record);
    if (this.records.size > this.capacity) this.records.delete(this.records.keys().next().value!);
  }

  delete(tenant: string, conversationId: string): void {
    this.records.delete(keyOf(tenant, conversationId));
  }

  clear(): void {
    this.records.clear();
  }
}

// A tenant never contains a NUL, so the key names one session.
function keyOf(tenant: string, conversationId: string): string {
  return `${tenant}\u0000${conversationId}`;
}
