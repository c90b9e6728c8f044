import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { REQUEST_READ_OPTIONS } from "../../grpc/request-decoding.js";
import { SessionUpdateSchema } from "../../gen/sessionstore/v1/session_store_pb.js";
import type { SessionRules } from "../../session/rules.js";
import type { TenantUpdate } from "../store.js";
import type { Synchronous } from "./open-database.js";
import type { SqliteWriter } from "./sqlite-writer.js";
import type { ThreadError } from "./thread-errors.js";

/**
 * The messages between the SQLite store on the event loop and its writer
 * thread. Requests name a SqliteWriter method (or a thread operation) and
 * carry its arguments; every value is structured-cloned, so protobuf-es
 * messages (plain objects), bigints, Dates and bytes cross as they are.
 */

export type WriterMethod = "create" | "resume" | "resumeEncoded" | "end" | "delete" | "cleanupBatch" | "abandonBatch";

/**
 * A group of updates as it crosses to the thread: every update's protobuf
 * binary in one buffer, which is moved rather than copied, instead of a deep
 * clone of each decoded message.
 */
export interface PackedUpdates {
  tenants: string[];
  /** Byte length of each update in `bytes`, in order. */
  lengths: number[];
  bytes: Uint8Array;
}

export type WriterRequest =
  | { id: number; method: WriterMethod; args: Parameters<SqliteWriter[WriterMethod]> }
  | { id: number; method: "updateMany"; args: [updates: PackedUpdates, now: Date, epoch: number] }
  /** Answers at once: the thread is not stuck on a lock or a slow disk; fails while the disk is full (checkDiskRoom). */
  | { id: number; method: "ping"; args: [] }
  /** Checkpoints the WAL into the main file and closes the connection. */
  | { id: number; method: "close"; args: [] };

export type WriterReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: ThreadError };

/** What the thread posts once, after opening: ready, or why the file cannot be used. */
export type WriterStart = { ready: true } | { ready: false; error: ThreadError };

/** A log line of the thread, written by the store's logger on the event loop. */
export interface WriterLog {
  log: { level: "info" | "warn"; obj: object; msg: string };
}

export interface WriterData {
  path: string;
  synchronous: Synchronous;
  rules: SessionRules;
}

/** Packs a group for the thread, using each update's bytes as received when there are any. */
export function packUpdates(items: readonly TenantUpdate[]): PackedUpdates {
  const encoded = items.map(({ update, encoded }) => encoded ?? toBinary(SessionUpdateSchema, update));
  const lengths = encoded.map((e) => e.length);
  const bytes = new Uint8Array(lengths.reduce((a, b) => a + b, 0));
  let at = 0;
  for (const e of encoded) {
    bytes.set(e, at);
    at += e.length;
  }
  return { tenants: items.map((i) => i.tenant), lengths, bytes };
}

/** The group again, on the thread. */
export function unpackUpdates({ tenants, lengths, bytes }: PackedUpdates): TenantUpdate[] {
  let at = 0;
  return tenants.map((tenant, i) => {
    // Read as the server reads requests: the bytes as received may hold unknown fields, which are not stored.
    const update = fromBinary(SessionUpdateSchema, bytes.subarray(at, at + lengths[i]!), REQUEST_READ_OPTIONS);
    at += lengths[i]!;
    return { tenant, update };
  });
}
