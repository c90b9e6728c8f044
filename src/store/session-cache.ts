/**
 * What a store's writer keeps of the sessions it wrote last, so that a call
 * writing every few milliseconds is not read back and decoded each time.
 * Keyed by (tenant, conversation_id); least recently used entries go first.
 * Whether an entry can be trusted is the store's to say: SQLite's writer is
 * the file's only writer; Redis commits only on the version an entry holds.
 */
export class SessionCache<T> {
  private readonly entries = new Map<string, T>();

  constructor(private readonly capacity: number) {}

  get(tenant: string, conversationId: string): T | undefined {
    const key = keyOf(tenant, conversationId);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    // Again at the end: the Map's order is the eviction order.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  set(tenant: string, conversationId: string, entry: T): void {
    const key = keyOf(tenant, conversationId);
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(tenant: string, conversationId: string): void {
    this.entries.delete(keyOf(tenant, conversationId));
  }

  clear(): void {
    this.entries.clear();
  }
}

/** Entries a busy sidecar's writer keeps at most: a few times its live calls, a few megabytes. */
export const CACHED_SESSIONS = 20_000;

// A tenant never contains a NUL, so the key names one session.
function keyOf(tenant: string, conversationId: string): string {
  return `${tenant}\u0000${conversationId}`;
}
