import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sessionstore } from "../support/cli-run.js";
import { type Sidecar, startSidecar, tempDbPath } from "../support/sidecar-process.js";
import { openUpdateStream, type RawUpdateStream } from "../support/update-stream-raw.js";

const CALLS = 20;
const ids = Array.from({ length: CALLS }, (_, i) => `call-${i}`);

/**
 * A bridge's steady load: round after round, one update per call on one
 * StreamUpdates stream (seq = round, a history item and 320 bytes of audio),
 * each round sent once the one before is acked. `acked` has, per call, the
 * highest seq acknowledged so far.
 */
function streamingLoad(stream: RawUpdateStream): { acked: Map<string, bigint>; rounds: () => number; stop: () => Promise<void> } {
  const acked = new Map<string, bigint>();
  let stopping = false;
  let round = 0;
  const running = (async () => {
    while (!stopping) {
      round += 1;
      const seen = stream.acks.length;
      for (const conversationId of ids) {
        await stream.send({ conversationId, seq: BigInt(round), appendHistory: [{ itemId: `r${round}`, text: `round ${round}` }], appendAudio: [{ data: randomBytes(320) }] });
      }
      const acks = (await stream.waitForAcks(seen + CALLS)).slice(seen);
      for (const ack of acks) {
        if (ack.error !== undefined) throw new Error(`update of ${ack.conversationId} refused: ${ack.error.message}`);
        acked.set(ack.conversationId, ack.seq);
      }
    }
  })();
  return {
    acked,
    rounds: () => round,
    stop: async () => {
      stopping = true;
      await running;
    },
  };
}

describe("sessionstore backup and restore, under streaming load", () => {
  let sidecar: Sidecar;

  beforeAll(async () => {
    sidecar = await startSidecar();
    const client = sidecar.client();
    for (const conversationId of ids) await client.createSession({ session: { conversationId, bridgeType: "audiocodes" }, ownerId: "pod-a" });
  });
  afterAll(async () => {
    await sidecar?.stop();
  });

  it("takes a consistent copy while the sidecar commits, holding every update acked before it began", async () => {
    const stream = openUpdateStream(sidecar.address);
    const load = streamingLoad(stream);
    try {
      while (load.rounds() < 30) await new Promise((r) => setTimeout(r, 20));
      const ackedBefore = new Map(load.acked);
      const backupFile = join(tempDbPath(), "..", "backup.db");
      const backup = await sessionstore(["backup", "--sqlite-path", sidecar.dbPath, "--to", backupFile]);
      const roundsAtEnd = load.rounds();
      expect(backup).toMatchObject({ code: 0, stderr: "" });
      expect(backup.stdout).toBe(`${backupFile}: ok, ${CALLS} sessions, no damage found\nbacked up ${sidecar.dbPath} to ${backupFile}\n`);
      // One file, to copy as it is: no -wal or -shm beside it, and no partial file left over.
      expect(existsSync(`${backupFile}-wal`)).toBe(false);
      expect((await sessionstore(["check", "--sqlite-path", backupFile])).code).toBe(0);
      // The load went on: the sidecar kept committing, and its writer was never stopped.
      while (load.rounds() < roundsAtEnd + 5) await new Promise((r) => setTimeout(r, 20));
      await load.stop();

      const restoredPath = tempDbPath();
      const restored = await sessionstore(["restore", "--sqlite-path", restoredPath, "--from", backupFile]);
      expect(restored).toMatchObject({ code: 0, stderr: "" });
      expect(restored.stdout).toBe(`${restoredPath}: ok, ${CALLS} sessions, no damage found\nrestored ${restoredPath} from ${backupFile}\n`);

      const copy = await startSidecar({ dbPath: restoredPath });
      try {
        const client = copy.client();
        for (const conversationId of ids) {
          const { session } = await client.getSession({ conversationId });
          const before = ackedBefore.get(conversationId)!;
          expect(session!.lastSeq, conversationId).toBeGreaterThanOrEqual(before);
          // Every acked round's item and audio, in order, up to the copy's last seq: nothing half-applied.
          const rounds = session!.conversationHistory.map((item) => item.itemId);
          expect(rounds).toEqual(Array.from({ length: Number(session!.lastSeq) }, (_, i) => `r${i + 1}`));
          expect(session!.audioBuffer.length).toBe(Number(session!.lastSeq));
        }
      } finally {
        await copy.stop();
      }
    } finally {
      await load.stop().catch(() => undefined);
      stream.close();
    }
  });

  it("refuses to restore over a database a sidecar serves, and keeps the replaced one when it restores", async () => {
    const backupFile = join(tempDbPath(), "..", "backup.db");
    expect((await sessionstore(["backup", "--sqlite-path", sidecar.dbPath, "--to", backupFile])).code).toBe(0);
    const refused = await sessionstore(["restore", "--sqlite-path", sidecar.dbPath, "--from", backupFile]);
    expect(refused).toMatchObject({
      code: 2,
      stdout: "",
      stderr: `sessionstore: refused: ${sidecar.dbPath} is served by a running sidecar (it holds ${sidecar.dbPath}-lock); stop that sidecar first\n`,
    });

    const other = await startSidecar();
    await other.client().createSession({ session: { conversationId: "only-in-the-old-file" } });
    await other.stop();
    const restored = await sessionstore(["restore", "--sqlite-path", other.dbPath, "--from", backupFile]);
    expect(restored.code).toBe(0);
    expect(restored.stdout).toContain(`the database it replaced is ${other.dbPath}.before-restore`);
    const old = await sessionstore(["check", "--sqlite-path", `${other.dbPath}.before-restore`]);
    expect(old.stdout).toBe(`${other.dbPath}.before-restore: ok, 1 sessions, no damage found\n`);
  });

  it("refuses a backup source or destination that is not a session database", async () => {
    const missing = `${tempDbPath()}.none`;
    const noSource = await sessionstore(["backup", "--sqlite-path", missing, "--to", `${missing}.copy`]);
    expect(noSource.code).toBe(2);
    expect(noSource.stderr).toMatch(/^sessionstore: .*\.none cannot be opened: .*\n$/);
    const noBackup = await sessionstore(["restore", "--sqlite-path", tempDbPath(), "--from", missing]);
    expect(noBackup.code).toBe(2);
    expect((await sessionstore(["backup", "--sqlite-path", sidecar.dbPath])).stderr).toContain("required option '--to <file>' not specified");
    // Over a live database (its -wal beside it) a copy would be corrupted by that WAL: refused.
    const over = await sessionstore(["backup", "--sqlite-path", sidecar.dbPath, "--to", sidecar.dbPath.replace(/\.db$/, "-other.db")]);
    expect(over.code).toBe(0);
    const onLive = await startSidecar();
    try {
      const refused = await sessionstore(["backup", "--sqlite-path", sidecar.dbPath, "--to", onLive.dbPath]);
      expect(refused).toMatchObject({ code: 2, stderr: `sessionstore: --to ${onLive.dbPath} has a ${onLive.dbPath}-wal beside it: it is (or was) a database in use; choose another file\n` });
    } finally {
      await onLive.stop();
    }
  });
});
