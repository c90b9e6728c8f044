import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { FieldMaskSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { SessionSchema, SessionStatus, type SessionUpdate, SessionUpdateSchema } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { SessionError } from "../../src/session/errors.js";
import { etagOf, type SessionRecord } from "../../src/session/record.js";
import { defaultRules, type SessionRules } from "../../src/session/rules.js";

/** The planners' clock: every table reads "now" as this instant. */
export const NOW = new Date("2026-06-01T12:00:00Z");
export const HOUR_MS = 3_600_000;
export const rules: SessionRules = { ...defaultRules, audioBufferMaxBytes: 1000 };

export interface StoredInit {
  status?: SessionStatus;
  idleMs?: number;
  ownerEpoch?: bigint;
  lastSeq?: bigint;
  resumedCount?: number;
  version?: number;
  audioBytes?: number;
  audioLastSeq?: bigint;
}

/** A stored header as a backend would read it: ACTIVE, epoch 3, version 41, idle for a second, unless told otherwise. */
export function stored(init: StoredInit = {}): SessionRecord {
  const version = init.version ?? 41;
  return {
    session: create(SessionSchema, {
      conversationId: "call-1",
      status: init.status ?? SessionStatus.ACTIVE,
      ownerId: "bridge-a",
      ownerEpoch: init.ownerEpoch ?? 3n,
      lastSeq: init.lastSeq ?? 10n,
      resumedCount: init.resumedCount ?? 0,
      caller: "+15550100",
      etag: etagOf(version),
      createdAt: timestampFromDate(new Date(NOW.getTime() - HOUR_MS)),
      lastActivity: timestampFromDate(new Date(NOW.getTime() - (init.idleMs ?? 1000))),
    }),
    version,
    audioLastSeq: init.audioLastSeq ?? 0n,
    audioBytes: init.audioBytes ?? 0,
  };
}

export type UpdateInit = Omit<Exclude<MessageInitShape<typeof SessionUpdateSchema>, SessionUpdate>, "updateMask"> & { paths?: string[] };

export function update(init: UpdateInit = {}): SessionUpdate {
  const { paths, ...rest } = init;
  return create(SessionUpdateSchema, { conversationId: "call-1", ...rest, updateMask: paths ? create(FieldMaskSchema, { paths }) : undefined });
}

/** A planner's answer as a comparable value: the thrown SessionError's reason, or what `shape` makes of the result. */
export function outcome<T>(run: () => T, shape: (value: T) => unknown): unknown {
  try {
    return shape(run());
  } catch (err) {
    if (err instanceof SessionError) return err.reason;
    throw err;
  }
}

/** A deep snapshot for asserting that a planner left its input as it was. */
export function snapshot(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? [...v] : v));
}
