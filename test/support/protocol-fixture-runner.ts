import { readFileSync } from "node:fs";
import { status as GrpcCode } from "@grpc/grpc-js";
import { expect } from "vitest";
import { BridgeUpdateStream, type Session, SessionStatus, SessionStoreClient, type UpdateAck, UpdateError, errorReasonOf } from "../../src/client/index.js";
import { type Sidecar, startSidecar } from "./sidecar-process.js";

/** test/fixtures/update-stream-protocol.json; its format is documented in docs/UPDATE-STREAM-PROTOCOL.md. */
export interface ProtocolFixtures {
  modes: Mode[];
  fixtures: ProtocolFixture[];
}

export type Mode = "batched" | "single";

export interface ProtocolFixture {
  name: string;
  about: string;
  steps: Step[];
}

interface SessionExpectation {
  last_seq?: number;
  owner_epoch?: number;
  resumed_count?: number;
  owner_id?: string;
  end_reason?: string;
  status?: string;
  created?: boolean;
  history?: string[];
}

type Step =
  | { op: "create"; bridge: string; session: string }
  | { op: "resume"; bridge: string; session: string; create_if_missing?: boolean; expect?: SessionExpectation; expect_error?: { code: string; reason: string } }
  | { op: "track"; bridge: string; session: string; last_seq: number; owner_epoch?: number }
  | { op: "write"; bridge: string; session: string; items: string[] }
  | { op: "await"; bridge: string; outcomes: Record<string, string | string[]> }
  | { op: "end"; bridge: string; session: string; reason: string }
  | { op: "stop"; signal: "SIGTERM" | "SIGKILL" }
  | { op: "start" }
  | { op: "stops"; bridge: string; expect: { session: string; reason: string }[] }
  | { op: "check"; session: string; expect: SessionExpectation };

export function readProtocolFixtures(): ProtocolFixtures {
  return JSON.parse(readFileSync(new URL("../fixtures/update-stream-protocol.json", import.meta.url), "utf8")) as ProtocolFixtures;
}

/** One bridge of a run: its own client and helper stream, the epochs it tracks, what its writes came to. */
interface Bridge {
  client: SessionStoreClient;
  stream: BridgeUpdateStream;
  epochs: Map<string, bigint>;
  outcomes: Map<string, Promise<string>>;
  stops: { session: string; reason: string }[];
}

/** What a write came to, in the fixtures' words. */
function outcomeOf(write: Promise<UpdateAck>): Promise<string> {
  return write.then(
    (ack) => (ack.applied ? "applied" : "duplicate"),
    (err: unknown) => {
      if (!(err instanceof UpdateError)) throw err;
      if (err.local === "SESSION_STOPPED") return `stopped:${err.reason}`;
      if (err.local) return `failed:${GrpcCode[err.code]}`;
      return `refused:${err.reason}`;
    },
  );
}

/**
 * Runs one fixture against a sidecar of its own, in one mode, with
 * BridgeUpdateStream as the helper; fails the test at the first step whose
 * expectation does not hold.
 */
export async function runProtocolFixture(fixture: ProtocolFixture, mode: Mode): Promise<void> {
  let sidecar: Sidecar = await startSidecar();
  const { address, dbPath } = sidecar;
  const admin = new SessionStoreClient(address);
  const bridges = new Map<string, Bridge>();
  const run = `${fixture.name}-${mode}-${Date.now().toString(36)}`;
  const id = (session: string) => `${run}-${session}`;
  const nameOf = (conversationId: string) => conversationId.slice(run.length + 1);

  const bridge = (name: string): Bridge => {
    let known = bridges.get(name);
    if (!known) {
      const client = new SessionStoreClient(address);
      const stops: Bridge["stops"] = [];
      const record = (conversationId: string, info: { reason: string }) => stops.push({ session: nameOf(conversationId), reason: info.reason });
      const stream = new BridgeUpdateStream(client, { batching: mode === "single" ? false : undefined, onFenced: record, onEnded: record });
      known = { client, stream, epochs: new Map(), outcomes: new Map(), stops };
      bridges.set(name, known);
    }
    return known;
  };
  const track = (b: Bridge, session: Session) => {
    b.epochs.set(session.conversationId, session.ownerEpoch);
    b.stream.track(session);
  };

  try {
    for (const [index, step] of fixture.steps.entries()) {
      const where = `${fixture.name} (${mode}) step ${index + 1}, ${step.op}`;
      switch (step.op) {
        case "create": {
          const b = bridge(step.bridge);
          const { session } = await b.client.createSession({ session: { conversationId: id(step.session) }, ownerId: step.bridge });
          track(b, session!);
          break;
        }
        case "resume": {
          const b = bridge(step.bridge);
          const resumed = b.client.resumeSession({ conversationId: id(step.session), ownerId: step.bridge, createIfMissing: step.create_if_missing ?? false });
          if (step.expect_error) {
            const err = await resumed.then(() => undefined, (e: unknown) => e as UpdateError);
            expect({ code: err && GrpcCode[err.code], reason: err && errorReasonOf(err) }, where).toEqual(step.expect_error);
            break;
          }
          const { session, created } = await resumed;
          if (step.expect) expectSession({ ...session!, created }, step.expect, where);
          track(b, session!);
          break;
        }
        case "track": {
          const b = bridge(step.bridge);
          const { session } = await admin.getSession({ conversationId: id(step.session) });
          track(b, { ...session!, lastSeq: BigInt(step.last_seq), ownerEpoch: step.owner_epoch === undefined ? session!.ownerEpoch : BigInt(step.owner_epoch) });
          break;
        }
        case "write": {
          const b = bridge(step.bridge);
          for (const item of step.items) {
            const write = b.stream.write(id(step.session), { appendHistory: [{ itemId: item, text: item, role: "user", type: "message" }] });
            b.outcomes.set(item, outcomeOf(write));
          }
          break;
        }
        case "await": {
          const b = bridge(step.bridge);
          for (const [item, want] of Object.entries(step.outcomes)) {
            const got = await b.outcomes.get(item);
            expect(typeof want === "string" ? [want] : want, `${where}: ${item} came to ${got}`).toContain(got);
          }
          break;
        }
        case "end": {
          const b = bridge(step.bridge);
          await b.client.endSession({ conversationId: id(step.session), reason: step.reason, ownerEpoch: b.epochs.get(id(step.session)) });
          break;
        }
        case "stop":
          await sidecar.stop(step.signal);
          break;
        case "start":
          sidecar = await startSidecar({ dbPath, args: ["--listen", address] });
          break;
        case "stops":
          expect(bridge(step.bridge).stops, where).toEqual(step.expect);
          break;
        case "check": {
          const { session } = await admin.getSession({ conversationId: id(step.session) });
          expectSession(session!, step.expect, where);
          break;
        }
      }
    }
    for (const b of bridges.values()) expect(await b.stream.close(30_000), `${fixture.name} (${mode}): writes left unanswered at close`).toBe(0);
  } finally {
    for (const b of bridges.values()) b.client.close();
    admin.close();
    await sidecar.stop("SIGKILL");
  }
}

/** Compares the fields an expectation names, in the fixtures' spelling. */
function expectSession(session: Session & { created?: boolean }, want: SessionExpectation, where: string): void {
  const got: SessionExpectation = {
    last_seq: Number(session.lastSeq),
    owner_epoch: Number(session.ownerEpoch),
    resumed_count: session.resumedCount,
    owner_id: session.ownerId,
    end_reason: session.endReason,
    status: SessionStatus[session.status],
    created: session.created,
    history: session.conversationHistory.map((item) => item.itemId),
  };
  const named = Object.fromEntries(Object.keys(want).map((key) => [key, got[key as keyof SessionExpectation]]));
  expect(named, where).toEqual(want);
}
