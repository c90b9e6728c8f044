import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { FieldMaskSchema, type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { expect } from "vitest";
import type { ManualClock } from "../../src/runtime/clock.js";
import { type Reason, SessionError } from "../../src/session/errors.js";
import type { SessionRules } from "../../src/session/rules.js";
import {
  type Session,
  SessionSchema,
  SessionStatus,
  type SessionUpdate,
  SessionUpdateSchema,
  SessionView,
} from "../../src/gen/sessionstore/v1/session_store_pb.js";
import type { Store } from "../../src/store/store.js";

/** What a backend under test must provide: a fresh, empty store per call. */
export type StoreFactory = (opts: { rules: SessionRules; clock: ManualClock }) => Promise<{ store: Store; cleanup: () => Promise<void> }>;

/** One opened store with the clock and rules it was built with. */
export interface Harness {
  store: Store;
  clock: ManualClock;
  rules: SessionRules;
}

/** What every topic module of the suite receives. */
export interface ConformanceContext {
  /** A fresh store with the default rules changed by `overrides`; closed after the test. */
  open(overrides?: Partial<SessionRules>): Promise<Harness>;
}

export const TENANT = "default";
export const HOUR_MS = 3_600_000;

/** Asserts that `promise` fails with a SessionError of `reason`, and returns the error for further checks. */
export async function expectReason(promise: Promise<unknown>, reason: Reason): Promise<SessionError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected a SessionError ${reason}`).toBeInstanceOf(SessionError);
  const error = caught as SessionError;
  // The message rides along so a wrong reason shows what the store said.
  expect({ reason: error.reason, message: error.message }).toMatchObject({ reason });
  return error;
}

export function sessionInput(conversationId: string, init: MessageInitShape<typeof SessionSchema> = {}): Session {
  return create(SessionSchema, { bridgeType: "audiocodes", botName: "bot", caller: "+15550100", mediaFormat: "raw/lpcm16", ...init, conversationId });
}

export function createSession(store: Store, conversationId: string, init: MessageInitShape<typeof SessionSchema> = {}, tenant = TENANT): Promise<Session> {
  return store.create(tenant, sessionInput(conversationId, init), "bridge-1");
}

/** A SessionUpdate's plain fields, with the mask given as its paths. */
export type UpdateInit = Omit<Exclude<MessageInitShape<typeof SessionUpdateSchema>, SessionUpdate>, "conversationId" | "updateMask"> & { paths?: string[] };

export function updateOf(conversationId: string, init: UpdateInit = {}): SessionUpdate {
  const { paths, ...rest } = init;
  return create(SessionUpdateSchema, {
    ...rest,
    conversationId,
    updateMask: paths ? create(FieldMaskSchema, { paths }) : undefined,
  });
}

export function statusUpdate(conversationId: string, status: SessionStatus, ownerEpoch = 0n): SessionUpdate {
  return updateOf(conversationId, { ownerEpoch, paths: ["status"], session: { status } });
}

export function resume(store: Store, conversationId: string, ownerId = "bridge-2", tenant = TENANT) {
  return store.resume(tenant, { conversationId, ownerId, createIfMissing: false, initial: undefined, view: SessionView.UNSPECIFIED });
}

export function getFull(store: Store, conversationId: string, tenant = TENANT): Promise<Session> {
  return store.get(tenant, conversationId, SessionView.FULL);
}

export function millisOf(ts: Timestamp | undefined): number {
  if (!ts) throw new Error("timestamp is not set");
  return timestampDate(ts).getTime();
}

export function bytes(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).fill(fill);
}

export const liveStatuses = [SessionStatus.INITIATED, SessionStatus.ACTIVE, SessionStatus.PAUSED, SessionStatus.ERROR];
