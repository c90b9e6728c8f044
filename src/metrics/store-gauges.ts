import { statSync } from "node:fs";
import { Gauge, type Registry } from "prom-client";
import { SessionStatus } from "../gen/sessionstore/v1/session_store_pb.js";
import type { Store } from "../store/store.js";

/**
 * Tenants given a label value of their own in sessionstore_sessions; the
 * rest are summed under "other". Tenants come from --auth-tokens, a list the
 * operator wrote, but a fixed bound keeps one deployment with many tenants
 * from multiplying every scrape's series.
 */
export const MAX_TENANT_LABELS = 20;

/** The tenant label value that sums the tenants past MAX_TENANT_LABELS. */
export const OTHER_TENANTS = "other";

export interface StoreGaugeSources {
  store: Store;
  /** The tenants whose sessions are counted: "default" alone with auth off. */
  tenants: readonly string[];
  /** The SQLite database file, when the store is SQLite. */
  sqlitePath?: string | undefined;
  /** Whether the Redis connection is up, when the store is Redis. */
  redisConnected?: (() => boolean) | undefined;
}

/**
 * Gauges read from the store when Prometheus scrapes, rather than kept up to
 * date on every write: sessions by status (from the same counts as GetStats),
 * SQLite's file sizes, and the Redis connection's state. A scrape while the
 * storage is down leaves the session counts out (sessionstore_storage_up says
 * why) rather than report zero calls.
 */
export function addStoreGauges(registry: Registry, sources: StoreGaugeSources): void {
  const tenants = [...new Set(sources.tenants)].sort();
  const named = tenants.slice(0, MAX_TENANT_LABELS);
  const summed = tenants.slice(MAX_TENANT_LABELS);
  new Gauge({
    name: "sessionstore_sessions",
    help: "Unexpired sessions by tenant and status (INITIATED, ACTIVE, PAUSED, ENDED); tenants past the first 20 are summed as \"other\".",
    labelNames: ["tenant", "status"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const count = async (label: string, of: readonly string[]) => {
        const byStatus = new Map<SessionStatus, number>();
        for (const tenant of of) {
          for (const [status, n] of (await sources.store.stats(tenant)).byStatus) byStatus.set(status, (byStatus.get(status) ?? 0) + n);
        }
        for (const status of [SessionStatus.INITIATED, SessionStatus.ACTIVE, SessionStatus.PAUSED, SessionStatus.ENDED]) {
          this.set({ tenant: label, status: SessionStatus[status] }, byStatus.get(status) ?? 0);
        }
      };
      try {
        for (const tenant of named) await count(tenant, [tenant]);
        if (summed.length > 0) await count(OTHER_TENANTS, summed);
      } catch {
        this.reset();
      }
    },
  });

  const { sqlitePath, redisConnected } = sources;
  if (sqlitePath !== undefined) {
    const fileGauge = (name: string, help: string, file: string) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          // The WAL file is absent between a checkpoint that truncated it and the next write.
          this.set(fileSize(file));
        },
      });
    fileGauge("sessionstore_sqlite_database_bytes", "Size of the SQLite database file.", sqlitePath);
    fileGauge("sessionstore_sqlite_wal_bytes", "Size of the SQLite write-ahead log, which checkpoints fold back into the database.", `${sqlitePath}-wal`);
  }
  if (redisConnected !== undefined) {
    new Gauge({
      name: "sessionstore_redis_connected",
      help: "1 while the connection to Redis is up and ready, 0 while it is down and being re-established.",
      registers: [registry],
      collect() {
        this.set(redisConnected() ? 1 : 0);
      },
    });
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
