/**
 * How many sessions have not ended, in all and per tenant, as the SQLite
 * writer keeps them: read once when the file opens, then changed by the
 * writer's own transactions, which are the file's only writes. A running
 * transaction's changes are pending until it commits; one that rolls back
 * drops them. Expired sessions not yet swept are counted too, so these are
 * upper bounds that the writer corrects with a query only near a cap.
 */
export class NotEndedCounts {
  private total = 0;
  private readonly byTenant = new Map<string, number>();
  private readonly pending = new Map<string, number>();
  private pendingTotal = 0;

  constructor(rows: readonly { tenant: string; count: number }[]) {
    for (const { tenant, count } of rows) {
      this.byTenant.set(tenant, count);
      this.total += count;
    }
  }

  /** A transaction starts: nothing of an earlier, rolled-back one remains pending. */
  begin(): void {
    this.pending.clear();
    this.pendingTotal = 0;
  }

  add(tenant: string, delta: number): void {
    this.pending.set(tenant, (this.pending.get(tenant) ?? 0) + delta);
    this.pendingTotal += delta;
  }

  /** The running transaction committed. */
  commit(): void {
    for (const [tenant, delta] of this.pending) {
      const count = (this.byTenant.get(tenant) ?? 0) + delta;
      if (count === 0) this.byTenant.delete(tenant);
      else this.byTenant.set(tenant, count);
    }
    this.total += this.pendingTotal;
    this.begin();
  }

  /** Not ended in every tenant, as the running transaction sees it. */
  all(): number {
    return this.total + this.pendingTotal;
  }

  /** Not ended in one tenant, as the running transaction sees it. */
  of(tenant: string): number {
    return (this.byTenant.get(tenant) ?? 0) + (this.pending.get(tenant) ?? 0);
  }
}
