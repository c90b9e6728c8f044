import { describe, expect, it } from "vitest";
import { Reason, SessionError } from "../../src/session/errors.js";
import { ResumeReasonText } from "../../src/session/resume.js";
import { SessionStatus, SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import type { Store } from "../../src/store/store.js";
import { type ConformanceContext, createSession, expectReason, getFull, HOUR_MS, resume, sessionInput, TENANT, updateOf } from "./helpers.js";

function createIfMissing(store: Store, conversationId: string, botName = "created-bot") {
  return store.resume(TENANT, {
    conversationId,
    ownerId: "bridge-9",
    createIfMissing: true,
    initial: sessionInput("ignored-id", { botName, conversationHistory: [{ itemId: "first" }] }),
    view: SessionView.UNSPECIFIED,
  });
}

/** Asserts a refused resume: its reason, the plan's exact text, and that nothing changed. */
async function expectRefused(store: Store, conversationId: string, reason: Reason, text: string): Promise<void> {
  const before = await getFull(store, conversationId).catch(() => undefined);
  const error = await expectReason(resume(store, conversationId), reason);
  expect(error.message).toBe(text);
  expect(await store.validateResume(TENANT, conversationId)).toEqual({ valid: false, reason: text, code: reason });
  expect(await getFull(store, conversationId).catch(() => undefined)).toEqual(before);
}

export function resumeTests(ctx: ConformanceContext): void {
  describe("resume", () => {
    it("takes the session over: one more resume, ACTIVE, a new epoch, the new owner", async () => {
      const { store, clock } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: [{ itemId: "i1", text: "hello" }] });
      clock.advance(5000);
      const { session, created } = await resume(store, "call-1", "bridge-2");
      expect(created).toBe(false);
      expect(session).toMatchObject({ resumedCount: 1, status: SessionStatus.ACTIVE, ownerEpoch: 2n, ownerId: "bridge-2" });
      expect(session.conversationHistory.map((i) => i.text)).toEqual(["hello"]);
      expect(await getFull(store, "call-1")).toEqual(session);
    });

    it("keeps what was written between two resumes", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      await resume(store, "call-1", "bridge-2");
      await store.update(TENANT, updateOf("call-1", {
        ownerEpoch: 2n,
        paths: ["media_format", "current_turn"],
        session: { mediaFormat: "audio/x-mulaw", currentTurn: 3 },
        appendHistory: [{ itemId: "i1", text: "before the drop" }],
      }));
      const { session } = await resume(store, "call-1", "bridge-3");
      expect(session).toMatchObject({ resumedCount: 2, ownerEpoch: 3n, ownerId: "bridge-3", mediaFormat: "audio/x-mulaw", currentTurn: 3 });
      expect(session.conversationHistory.map((i) => i.text)).toEqual(["before the drop"]);
    });

    it("returns the view asked for", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: [{ itemId: "i1" }] });
      const { session } = await store.resume(TENANT, { conversationId: "call-1", ownerId: "b", createIfMissing: false, initial: undefined, view: SessionView.BASIC });
      expect(session.conversationHistory).toEqual([]);
      expect(session.resumedCount).toBe(1);
    });

    it("refuses a missing session", async () => {
      const { store } = await ctx.open();
      await expectRefused(store, "nobody", Reason.SessionNotFound, ResumeReasonText.notFound);
    });

    it("refuses an ended session", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      await store.end(TENANT, { conversationId: "call-1", reason: "", ownerEpoch: 0n, etag: "" });
      await expectRefused(store, "call-1", Reason.SessionEnded, ResumeReasonText.ended);
    });

    it("refuses a session idle for longer than the resume window, and not before", async () => {
      const { store, clock } = await ctx.open({ maxResumeAgeMs: HOUR_MS });
      await createSession(store, "call-1");
      await createSession(store, "call-2");
      clock.advance(HOUR_MS);
      expect((await resume(store, "call-1")).session.resumedCount).toBe(1);
      clock.advance(1);
      await expectRefused(store, "call-2", Reason.ResumeWindowExpired, ResumeReasonText.tooOld);
    });

    it("calls an expired session not swept yet too old rather than missing", async () => {
      const { store, clock } = await ctx.open();
      await createSession(store, "call-1");
      clock.advance(25 * HOUR_MS);
      const error = await expectReason(resume(store, "call-1"), Reason.ResumeWindowExpired);
      expect(error.message).toBe(ResumeReasonText.tooOld);
    });

    it("does not resume an expired session even when the resume window is longer", async () => {
      const { store, clock } = await ctx.open({ maxSessionAgeMs: HOUR_MS, maxResumeAgeMs: 24 * HOUR_MS });
      await createSession(store, "call-1");
      clock.advance(HOUR_MS + 1);
      const error = await expectReason(resume(store, "call-1"), Reason.SessionNotFound);
      expect(error.message).toBe(ResumeReasonText.notFound);
      expect((await store.validateResume(TENANT, "call-1")).code).toBe(Reason.SessionNotFound);
    });

    it("refuses more resumes than max_resume_attempts", async () => {
      const { store } = await ctx.open({ maxResumeAttempts: 2 });
      await createSession(store, "call-1");
      await resume(store, "call-1");
      await resume(store, "call-1");
      await expectRefused(store, "call-1", Reason.MaxResumesExceeded, ResumeReasonText.tooManyResumes);
    });

    it("counts refused resumes in failed_resumes and resumed sessions in resumed_sessions", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      await createSession(store, "call-2");
      await resume(store, "call-1");
      await resume(store, "call-1");
      await expectReason(resume(store, "nobody"), Reason.SessionNotFound);
      await store.validateResume(TENANT, "nobody");
      const stats = await store.stats(TENANT);
      expect(stats.failedResumes).toBe(1);
      expect(stats.resumedSessions).toBe(1);
    });
  });

  describe("validateResume", () => {
    it("says valid for a resumable session and changes nothing", async () => {
      const { store } = await ctx.open();
      const created = await createSession(store, "call-1");
      expect(await store.validateResume(TENANT, "call-1")).toEqual({ valid: true, reason: ResumeReasonText.valid, code: "" });
      expect(await getFull(store, "call-1")).toEqual(created);
      expect((await store.stats(TENANT)).failedResumes).toBe(0);
    });

    it("gives the plan's reason for each refusal without counting it", async () => {
      const { store, clock } = await ctx.open({ maxResumeAgeMs: HOUR_MS, maxResumeAttempts: 1 });
      await createSession(store, "ended");
      await store.end(TENANT, { conversationId: "ended", reason: "", ownerEpoch: 0n, etag: "" });
      await createSession(store, "resumed");
      await resume(store, "resumed");
      await createSession(store, "old");
      expect(await store.validateResume(TENANT, "nobody")).toEqual({ valid: false, reason: "Session not found", code: Reason.SessionNotFound });
      expect(await store.validateResume(TENANT, "ended")).toEqual({ valid: false, reason: "Session already ended", code: Reason.SessionEnded });
      expect(await store.validateResume(TENANT, "resumed")).toEqual({ valid: false, reason: "Maximum resume attempts exceeded", code: Reason.MaxResumesExceeded });
      clock.advance(HOUR_MS + 1);
      expect(await store.validateResume(TENANT, "old")).toEqual({ valid: false, reason: "Session too old to resume", code: Reason.ResumeWindowExpired });
      expect((await store.stats(TENANT)).failedResumes).toBe(0);
    });
  });

  describe("resume with createIfMissing", () => {
    it("creates an ACTIVE session from the initial values, then resumes it", async () => {
      const { store, clock } = await ctx.open();
      const first = await createIfMissing(store, "call-1");
      expect(first.created).toBe(true);
      expect(first.session).toMatchObject({
        conversationId: "call-1",
        botName: "created-bot",
        status: SessionStatus.ACTIVE,
        resumedCount: 0,
        ownerEpoch: 1n,
        ownerId: "bridge-9",
      });
      expect(first.session.conversationHistory.map((i) => i.itemId)).toEqual(["first"]);
      await expectReason(getFull(store, "ignored-id"), Reason.SessionNotFound);
      clock.advance(1000);
      const second = await createIfMissing(store, "call-1", "other-bot");
      expect(second.created).toBe(false);
      expect(second.session).toMatchObject({ botName: "created-bot", resumedCount: 1, ownerEpoch: 2n });
      expect(second.session.conversationHistory).toHaveLength(1);
    });

    it("replaces an expired session", async () => {
      const { store, clock } = await ctx.open();
      await createSession(store, "call-1", { botName: "old", conversationHistory: [{ itemId: "old-1" }, { itemId: "old-2" }] });
      clock.advance(25 * HOUR_MS);
      const { session, created } = await createIfMissing(store, "call-1");
      expect(created).toBe(true);
      expect(session).toMatchObject({ botName: "created-bot", resumedCount: 0, ownerEpoch: 1n });
      expect(session.conversationHistory.map((i) => i.itemId)).toEqual(["first"]);
    });

    it("does not revive an ended session", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      await store.end(TENANT, { conversationId: "call-1", reason: "", ownerEpoch: 0n, etag: "" });
      await expectReason(createIfMissing(store, "call-1"), Reason.SessionEnded);
      expect((await getFull(store, "call-1")).status).toBe(SessionStatus.ENDED);
    });

    it("respects max_sessions", async () => {
      const { store } = await ctx.open({ maxSessions: 1 });
      await createSession(store, "call-1");
      await expectReason(createIfMissing(store, "call-2"), Reason.MaxSessions);
      await expectReason(getFull(store, "call-2"), Reason.SessionNotFound);
    });
  });

  describe("concurrent resumes", () => {
    it("serializes them: every success gets its own epoch and is counted once", async () => {
      const { store } = await ctx.open({ maxResumeAttempts: 50 });
      await createSession(store, "call-1");
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => resume(store, "call-1", `bridge-${i}`)));
      const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.session] : []));
      for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(SessionError);
      expect(won.length).toBeGreaterThan(0);
      const final = await getFull(store, "call-1");
      expect(final.resumedCount).toBe(won.length);
      expect(final.ownerEpoch).toBe(1n + BigInt(won.length));
      const epochs = won.map((s) => s.ownerEpoch).sort((a, b) => (a < b ? -1 : 1));
      expect(epochs).toEqual(Array.from({ length: won.length }, (_, i) => 2n + BigInt(i)));
      expect(won.find((s) => s.ownerEpoch === final.ownerEpoch)?.ownerId).toBe(final.ownerId);
    });

    it("lets no more than max_resume_attempts win", async () => {
      const { store } = await ctx.open({ maxResumeAttempts: 5 });
      await createSession(store, "call-1");
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => resume(store, "call-1")));
      const lost = results.flatMap((r) => (r.status === "rejected" ? [r.reason as SessionError] : []));
      expect(results.length - lost.length).toBe(5);
      expect(lost.every((e) => e.reason === Reason.MaxResumesExceeded)).toBe(true);
      expect((await getFull(store, "call-1")).resumedCount).toBe(5);
      expect((await store.stats(TENANT)).failedResumes).toBe(15);
    });
  });
}
