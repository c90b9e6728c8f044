import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { SessionSchema, SessionStatus, SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { checkCapacity, planCreate } from "../../src/session/create-plan.js";
import { planDelete } from "../../src/session/delete-plan.js";
import { planEnd } from "../../src/session/end-plan.js";
import type { SessionError } from "../../src/session/errors.js";
import { isFullView, isListed, listedStatuses } from "../../src/session/reads.js";
import { etagOf } from "../../src/session/record.js";
import { planResume } from "../../src/session/resume-plan.js";
import { HOUR_MS, NOW, outcome, rules, snapshot, stored } from "./fixtures.js";

const input = (init: Parameters<typeof create<typeof SessionSchema>>[1] = {}) =>
  create(SessionSchema, { conversationId: "call-1", caller: "+15550199", ...init });
const newOptions = { ownerId: "bridge-b", status: SessionStatus.INITIATED, now: NOW, rules, initialVersion: 100 };

describe("planCreate", () => {
  it.each([
    { name: "nothing stored", record: undefined, expected: { replaces: false, status: SessionStatus.INITIATED, epoch: 1n, version: 100 } },
    { name: "an expired session is replaced", record: stored({ idleMs: 25 * HOUR_MS }), expected: { replaces: true, status: SessionStatus.INITIATED, epoch: 1n, version: 100 } },
    { name: "a live session", record: stored(), expected: "SESSION_EXISTS" },
    { name: "an ended one not yet swept", record: stored({ status: SessionStatus.ENDED }), expected: "SESSION_EXISTS" },
  ])("$name", ({ record, expected }) => {
    expect(
      outcome(
        () => planCreate(record, input(), newOptions),
        (p) => ({ replaces: p.replaces, status: p.record.session.status, epoch: p.record.session.ownerEpoch, version: p.record.version }),
      ),
    ).toEqual(expected);
  });

  it("sets the server's fields over the client's and stamps the first children", () => {
    const plan = planCreate(undefined, input({ resumedCount: 7, ownerEpoch: 9n, lastSeq: 5n, endReason: "x", etag: "forged", conversationHistory: [{ itemId: "h1" }], audioBuffer: [{ data: new Uint8Array(600) }, { data: new Uint8Array(600) }] }), newOptions);
    const s = plan.record.session;
    expect([s.resumedCount, s.ownerEpoch, s.lastSeq, s.endReason, s.etag, s.ownerId, s.caller]).toEqual([0, 1n, 0n, "", etagOf(100), "bridge-b", "+15550199"]);
    expect(s.conversationHistory).toEqual([]);
    expect(plan.children.history.map((h) => [h.itemId, h.createdAt?.seconds])).toEqual([["h1", BigInt(NOW.getTime() / 1000)]]);
    // Two chunks of 600 through a 1000-byte ring: the newer one is kept, numbered 2.
    expect(plan.children.audio.map((c) => c.seq)).toEqual([2n]);
    expect([plan.record.audioLastSeq, plan.record.audioBytes]).toEqual([2n, 600]);
  });

  it.each([
    { total: 999, tenant: 999, perTenant: 0, expected: "fits" },
    { total: 1000, tenant: 1, perTenant: 0, expected: "max_sessions" },
    { total: 10, tenant: 9, perTenant: 10, expected: "fits" },
    { total: 10, tenant: 10, perTenant: 10, expected: "max_sessions_per_tenant" },
    // A tenant at its own cap hears of its own cap, even when the store is full too.
    { total: 1000, tenant: 10, perTenant: 10, expected: "max_sessions_per_tenant" },
  ])("checkCapacity with $total live, $tenant of them the tenant's, per-tenant cap $perTenant", ({ total, tenant, perTenant, expected }) => {
    const limit = () => {
      try {
        checkCapacity({ total, tenant }, { ...rules, maxSessionsPerTenant: perTenant });
        return "fits";
      } catch (err) {
        return (err as SessionError).metadata.limit;
      }
    };
    expect(limit()).toBe(expected);
  });

  it("says nothing of other tenants when the store-wide cap is reached", () => {
    const err = (() => {
      try {
        checkCapacity({ total: 1000, tenant: 3 }, rules);
      } catch (e) {
        return e as SessionError;
      }
    })()!;
    expect(err.reason).toBe("MAX_SESSIONS");
    expect(err.message).not.toMatch(/\b(3|1000 live|holds \d)/);
    expect(err.metadata).toEqual({ limit: "max_sessions", max_sessions: "1000" });
  });
});

describe("planResume", () => {
  const resume = (createIfMissing = false) => ({ conversationId: "call-1", ownerId: "bridge-b", createIfMissing, initial: undefined });
  const options = { now: NOW, rules, initialVersion: 100 };

  it.each([
    { name: "a live session", record: stored({ resumedCount: 2 }), createIfMissing: false, expected: { kind: "resume", epoch: 4n, resumed: 3, owner: "bridge-b", status: SessionStatus.ACTIVE, version: 42 } },
    { name: "a PAUSED session becomes ACTIVE", record: stored({ status: SessionStatus.PAUSED }), createIfMissing: false, expected: { kind: "resume", epoch: 4n, resumed: 1, owner: "bridge-b", status: SessionStatus.ACTIVE, version: 42 } },
    { name: "an ERROR session is resumable", record: stored({ status: SessionStatus.ERROR }), createIfMissing: false, expected: { kind: "resume", epoch: 4n, resumed: 1, owner: "bridge-b", status: SessionStatus.ACTIVE, version: 42 } },
    { name: "nothing stored", record: undefined, createIfMissing: false, expected: { kind: "refuse", reason: "SESSION_NOT_FOUND", text: "Session not found" } },
    { name: "ended", record: stored({ status: SessionStatus.ENDED }), createIfMissing: true, expected: { kind: "refuse", reason: "SESSION_ENDED", text: "Session already ended" } },
    { name: "idle past the resume window", record: stored({ idleMs: 24 * HOUR_MS + 1 }), createIfMissing: false, expected: { kind: "refuse", reason: "RESUME_WINDOW_EXPIRED", text: "Session too old to resume" } },
    { name: "resumed too often", record: stored({ resumedCount: 10 }), createIfMissing: false, expected: { kind: "refuse", reason: "MAX_RESUMES_EXCEEDED", text: "Maximum resume attempts exceeded" } },
    { name: "nothing stored, create_if_missing", record: undefined, createIfMissing: true, expected: { kind: "create", replaces: false, status: SessionStatus.ACTIVE, owner: "bridge-b" } },
    { name: "expired, create_if_missing", record: stored({ idleMs: 25 * HOUR_MS }), createIfMissing: true, expected: { kind: "create", replaces: true, status: SessionStatus.ACTIVE, owner: "bridge-b" } },
  ])("$name", ({ record, createIfMissing, expected }) => {
    const plan = planResume(record, resume(createIfMissing), options);
    const shaped =
      plan.kind === "resume"
        ? { kind: plan.kind, epoch: plan.record.session.ownerEpoch, resumed: plan.record.session.resumedCount, owner: plan.record.session.ownerId, status: plan.record.session.status, version: plan.record.version }
        : plan.kind === "refuse"
          ? { kind: plan.kind, reason: plan.error.reason, text: plan.error.message }
          : { kind: plan.kind, replaces: plan.create.replaces, status: plan.create.record.session.status, owner: plan.create.record.session.ownerId };
    expect(shaped).toEqual(expected);
  });

  it("leaves the stored record as it was", () => {
    const record = stored();
    const before = snapshot(record);
    planResume(record, resume(), options);
    expect(snapshot(record)).toBe(before);
  });
});

describe("planEnd and planDelete", () => {
  const end = (init: { ownerEpoch?: bigint; etag?: string; reason?: string } = {}) => ({ conversationId: "call-1", reason: "", ownerEpoch: 0n, etag: "", ...init });

  it.each([
    { name: "a live session", record: stored(), request: end({ reason: "caller hung up" }), expected: { changed: true, status: SessionStatus.ENDED, reason: "caller hung up", version: 42 } },
    { name: "no reason given", record: stored(), request: end(), expected: { changed: true, status: SessionStatus.ENDED, reason: "normal", version: 42 } },
    { name: "already ended: unchanged, even from an old epoch", record: stored({ status: SessionStatus.ENDED }), request: end({ ownerEpoch: 1n }), expected: { changed: false, status: SessionStatus.ENDED, reason: "", version: 41 } },
    { name: "an older epoch", record: stored(), request: end({ ownerEpoch: 2n }), expected: "SESSION_FENCED" },
    { name: "a stale etag", record: stored(), request: end({ etag: "stale" }), expected: "ETAG_MISMATCH" },
    { name: "expired", record: stored({ idleMs: 25 * HOUR_MS }), request: end(), expected: "SESSION_NOT_FOUND" },
    { name: "nothing stored", record: undefined, request: end(), expected: "SESSION_NOT_FOUND" },
  ])("planEnd: $name", ({ record, request, expected }) => {
    expect(
      outcome(
        () => planEnd(record, request, NOW, rules),
        (p) => ({ changed: p.changed, status: p.record.session.status, reason: p.record.session.endReason, version: p.record.version }),
      ),
    ).toEqual(expected);
  });

  it.each([
    { name: "a live session", record: stored(), etag: "", expected: 41 },
    { name: "the current etag", record: stored(), etag: etagOf(41), expected: 41 },
    { name: "a stale etag", record: stored(), etag: "stale", expected: "ETAG_MISMATCH" },
    { name: "expired", record: stored({ idleMs: 25 * HOUR_MS }), etag: "", expected: "SESSION_NOT_FOUND" },
    { name: "nothing stored", record: undefined, etag: "", expected: "SESSION_NOT_FOUND" },
  ])("planDelete: $name", ({ record, etag, expected }) => {
    expect(outcome(() => planDelete(record, "call-1", etag, NOW, rules), (r) => r.version)).toEqual(expected);
  });
});

describe("what reads see", () => {
  it.each([
    { view: SessionView.UNSPECIFIED, fallback: SessionView.FULL, full: true },
    { view: SessionView.UNSPECIFIED, fallback: SessionView.BASIC, full: false },
    { view: SessionView.BASIC, fallback: SessionView.FULL, full: false },
    { view: SessionView.FULL, fallback: SessionView.BASIC, full: true },
  ])("view $view with default $fallback: full $full", ({ view, fallback, full }) => {
    expect(isFullView(view, fallback)).toBe(full);
  });

  it("lists every status but ENDED unless asked", () => {
    expect(listedStatuses([])).toEqual([SessionStatus.INITIATED, SessionStatus.ACTIVE, SessionStatus.PAUSED, SessionStatus.ERROR]);
    expect(listedStatuses([SessionStatus.ENDED])).toEqual([SessionStatus.ENDED]);
  });

  it.each([
    { name: "live, no filter", record: stored(), filter: { statuses: [], bridgeType: "" }, listed: true },
    { name: "ended, no filter", record: stored({ status: SessionStatus.ENDED }), filter: { statuses: [], bridgeType: "" }, listed: false },
    { name: "ended, asked for", record: stored({ status: SessionStatus.ENDED }), filter: { statuses: [SessionStatus.ENDED], bridgeType: "" }, listed: true },
    { name: "expired", record: stored({ idleMs: 25 * HOUR_MS }), filter: { statuses: [], bridgeType: "" }, listed: false },
    { name: "another bridge type", record: stored(), filter: { statuses: [], bridgeType: "twilio" }, listed: false },
  ])("isListed: $name", ({ record, filter, listed }) => {
    expect(isListed(record.session, filter, NOW, rules)).toBe(listed);
  });
});
