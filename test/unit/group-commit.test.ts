import { describe, expect, it, vi } from "vitest";
import { Reason, SessionError } from "../../src/session/errors.js";
import type { TenantUpdate } from "../../src/store/store.js";
import { defaultGroupCommitLimits, GroupCommitter, type GroupCommitLimits } from "../../src/server/group-commit.js";
import { ManualGroupStore, submitted, turn, upd } from "../support/manual-group-store.js";

function committer(limits: Partial<GroupCommitLimits> = {}) {
  const store = new ManualGroupStore();
  return { store, committer: new GroupCommitter(store.asStore(), { ...defaultGroupCommitLimits, ...limits }) };
}

const ids = (group: TenantUpdate[]) => group.map((i) => i.update.conversationId);

describe("GroupCommitter", () => {
  it("commits at once when idle and gathers what arrives meanwhile into the next group", async () => {
    const { store, committer: c } = committer();
    const first = submitted(c, "t", upd("a", 1n), 10);
    await turn();
    expect(store.groups.map(ids)).toEqual([["a"]]);
    const later = [submitted(c, "t", upd("b"), 10), submitted(c, "u", upd("a", 2n), 10), submitted(c, "t", upd("refuse-1"), 10)];
    await turn();
    expect(store.groups).toHaveLength(1);
    store.commit();
    expect(await first).toMatchObject({ applied: true, session: { etag: "etag-1" } });
    await turn();
    expect(store.groups.map(ids)).toEqual([["a"], ["b", "a", "refuse-1"]]);
    expect(store.groups[1]!.map((i) => i.tenant)).toEqual(["t", "u", "t"]);
    store.commit();
    const results = await Promise.all(later);
    expect(results.map((r) => (r instanceof SessionError ? r.reason : r.applied))).toEqual([true, true, Reason.SessionEnded]);
  });

  it("splits a backlog by count and by bytes, in submission order", async () => {
    const { store, committer: c } = committer({ maxGroupUpdates: 3, maxGroupBytes: 100 });
    void submitted(c, "t", upd("x0"), 1);
    await turn();
    const sizes = [10, 10, 10, 10, 60, 60, 500, 1];
    sizes.forEach((bytes, i) => void submitted(c, "t", upd(`x${i + 1}`), bytes));
    for (let i = 0; i < 5; i++) {
      store.commit();
      await turn();
    }
    // Count caps the first group; bytes the next ones; a single oversized update still goes, alone.
    expect(store.groups.map(ids)).toEqual([["x0"], ["x1", "x2", "x3"], ["x4", "x5"], ["x6"], ["x7"], ["x8"]]);
  });

  it("fails a failed group and everything queued behind it, then goes on with new submits", async () => {
    const { store, committer: c } = committer();
    const failed = submitted(c, "t", upd("a", 1n), 1);
    await turn();
    const queued = submitted(c, "t", upd("a", 2n), 1);
    const outage = new SessionError(Reason.StorageUnavailable, "disk gone");
    store.fail(outage);
    await expect(failed).rejects.toBe(outage);
    await expect(queued).rejects.toBe(outage);
    const next = submitted(c, "t", upd("a", 3n), 1);
    await turn();
    expect(store.groups.map(ids)).toEqual([["a"], ["a"]]);
    store.commit();
    expect(await next).toMatchObject({ applied: true });
  });

  it("reports full beyond its queue limits until a group is taken, and idle once all is committed", async () => {
    const { store, committer: c } = committer({ maxGroupUpdates: 2, maxQueuedUpdates: 3 });
    void submitted(c, "t", upd("a"), 1);
    await turn();
    for (const id of ["b", "c", "d"]) void submitted(c, "t", upd(id), 1);
    expect(c.full).toBe(true);
    let roomy = false;
    void c.whenRoom().then(() => (roomy = true));
    let idle = false;
    void c.idle().then(() => (idle = true));
    store.commit();
    await turn();
    expect([c.full, roomy, idle]).toEqual([false, true, false]);
    store.commit();
    await turn();
    store.commit();
    await turn();
    expect(idle).toBe(true);
    expect(store.groups.map(ids)).toEqual([["a"], ["b", "c"], ["d"]]);
  });

  it("past capacity, reports full once what waits would take a quarter of the queue timeout at the store's pace, less what it is committing, or as soon as a group can wait", async () => {
    vi.useFakeTimers({ toFake: ["performance"] });
    try {
      const { store, committer: c } = committer({ maxGroupUpdates: 10, queueTimeoutMs: 1_000 });
      for (let i = 0; i < 10; i++) void submitted(c, "t", upd(`a${i}`), 1);
      await turn();
      expect(store.groups).toHaveLength(1);
      // Before the store has committed anything its pace is unknown, and one group may wait.
      for (let i = 0; i < 9; i++) void submitted(c, "t", upd(`b${i}`), 1);
      expect(c.full).toBe(false);
      void submitted(c, "t", upd("b9"), 1);
      expect(c.full).toBe(true);
      // Ten updates in 10 ms: 250 ms of that pace is 250 updates, less the ten now committing.
      vi.advanceTimersByTime(10);
      store.commit();
      await turn();
      expect(store.groups).toHaveLength(2);
      for (let i = 0; i < 239; i++) void submitted(c, "t", upd(`c${i}`), 1);
      expect(c.full).toBe(false);
      void submitted(c, "t", upd("c239"), 1);
      expect(c.full).toBe(true);
    } finally {
      vi.useRealTimers();
    }

    const floor = committer({ maxGroupUpdates: 40, queueTimeoutMs: 1_000 });
    void submitted(floor.committer, "t", upd("a"), 1);
    await turn();
    await new Promise((resolve) => setTimeout(resolve, 50));
    floor.store.commit();
    await turn();
    for (let i = 0; i < 39; i++) void submitted(floor.committer, "t", upd(`q${i}`), 1);
    // The pace allows 5 at most, but a whole group may always wait.
    expect(floor.committer.full).toBe(false);
    void submitted(floor.committer, "t", upd("q39"), 1);
    expect(floor.committer.full).toBe(true);
  });

  it("lets the streams held for a full queue read again in turn, as far as the room goes, and all of them once it is idle", async () => {
    const { store, committer: c } = committer({ maxGroupUpdates: 2, maxQueuedUpdates: 4, queueTimeoutMs: 0 });
    void submitted(c, "t", upd("busy"), 1);
    await turn();
    for (const id of ["a", "b", "c", "d"]) void submitted(c, "t", upd(id), 1);
    expect(c.full).toBe(true);
    const woken: string[] = [];
    // Each stream's last message held ten updates: it will likely bring as many.
    for (const stream of ["s1", "s2", "s3"]) void c.whenRoom(10).then(() => woken.push(stream));
    store.commit();
    await turn();
    // a and b went to the store: room for two, and the first stream alone fills it.
    expect(woken).toEqual(["s1"]);
    store.commit();
    await turn();
    // c and d went too: room for four, which the second stream fills.
    expect(woken).toEqual(["s1", "s2"]);
    store.commit();
    await turn();
    // Nothing left to commit: a stream held now would wait for nothing.
    expect(woken).toEqual(["s1", "s2", "s3"]);
    expect(store.groups.map(ids)).toEqual([["busy"], ["a", "b"], ["c", "d"]]);
  });

  it("is overloaded for readiness once streams have been held for a full queue, without a pause of a second, for five seconds", async () => {
    vi.useFakeTimers({ toFake: ["performance"] });
    try {
      const { store, committer: c } = committer({ maxGroupUpdates: 2, maxQueuedUpdates: 3, queueTimeoutMs: 0 });
      void submitted(c, "t", upd("busy"), 1);
      await turn();
      for (const id of ["a", "b", "c"]) void submitted(c, "t", upd(id), 1);
      // A stream asked to stop reading every 900 ms: 4.5 s of it, then 5.4 s.
      for (let i = 0; i < 6; i++) {
        void c.whenRoom();
        vi.advanceTimersByTime(900);
      }
      expect(c.overloaded).toBe(false);
      void c.whenRoom();
      expect(c.overloaded).toBe(true);
      // A second without anyone held ends it.
      vi.advanceTimersByTime(1_000);
      expect(c.overloaded).toBe(false);
      store.commit();
    } finally {
      vi.useRealTimers();
    }
  });

  it("makes room when shedding empties the queue, so that streams held while it was full read again", async () => {
    const { store, committer: c } = committer({ maxGroupUpdates: 2, maxQueuedUpdates: 3, queueTimeoutMs: 5 });
    void submitted(c, "t", upd("busy"), 1);
    await turn();
    const waited = ["a", "b", "c"].map((id) => submitted(c, "t", upd(id), 1));
    expect(c.full).toBe(true);
    let roomy = false;
    void c.whenRoom().then(() => (roomy = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    store.commit();
    await turn();
    // Every queued update waited past the timeout: the next group is empty, and the queue with it.
    expect((await Promise.all(waited)).map((r) => (r instanceof SessionError ? r.reason : r.applied))).toEqual([Reason.Overloaded, Reason.Overloaded, Reason.Overloaded]);
    expect(store.groups).toHaveLength(1);
    expect([c.full, roomy]).toEqual([false, true]);
  });

  it("keeps two groups in flight when the store allows it, the second formed while the first commits", async () => {
    const { store, committer: c } = committer({ maxGroupsInFlight: 2 });
    const first = submitted(c, "t", upd("a", 1n), 1);
    await turn();
    const second = submitted(c, "t", upd("a", 2n), 1);
    await turn();
    // Both are with the store before either is durable.
    expect(store.groups.map(ids)).toEqual([["a"], ["a"]]);
    const third = submitted(c, "t", upd("a", 3n), 1);
    await turn();
    expect(store.groups).toHaveLength(2);
    store.commit();
    await first;
    await turn();
    expect(store.groups).toHaveLength(3);
    store.commit();
    store.commit();
    expect((await Promise.all([second, third])).map((r) => (r as { applied: boolean }).applied)).toEqual([true, true]);
  });

  it("sheds updates that waited past the queue timeout as OVERLOADED, with every later queued update of their sessions", async () => {
    const { store, committer: c } = committer({ queueTimeoutMs: 5 });
    void submitted(c, "t", upd("busy", 1n), 1);
    await turn();
    const waited = [submitted(c, "t", upd("a", 1n), 1), submitted(c, "u", upd("a", 1n), 1), submitted(c, "t", upd("b", 1n), 1)];
    await new Promise((resolve) => setTimeout(resolve, 20));
    const fresh = [submitted(c, "t", upd("a", 2n), 1), submitted(c, "t", upd("c", 1n), 1)];
    store.commit();
    await turn();
    const reasons = (await Promise.all(waited)).map((r) => (r instanceof SessionError ? r.reason : r.applied));
    expect(reasons).toEqual([Reason.Overloaded, Reason.Overloaded, Reason.Overloaded]);
    // a/2 of tenant t had not waited long, but a/1 of t was refused: applying a/2 first would lose it.
    expect(store.groups.map(ids)).toEqual([["busy"], ["c"]]);
    store.commit();
    const later = await Promise.all(fresh);
    expect(later.map((r) => (r instanceof SessionError ? r.reason : r.applied))).toEqual([Reason.Overloaded, true]);
    expect(c.shed).toBe(4);
  });
});
