import { create, type DescMessage, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statusDetailsOf, type SessionStoreClient } from "../../src/client/index.js";
import {
  CleanupSessionsRequestSchema,
  CreateSessionRequestSchema,
  DeleteSessionRequestSchema,
  EndSessionRequestSchema,
  GetSessionRequestSchema,
  GetStatsRequestSchema,
  ListSessionsRequestSchema,
  ResumeSessionRequestSchema,
  SessionSchema,
  SessionStatus,
  SessionStoreService,
  SessionUpdateSchema,
  SessionView,
  StreamUpdateBatchesResponseSchema,
  UpdateAckSchema,
  UpdateSessionRequestSchema,
  ValidateResumeRequestSchema,
  WatchSessionsRequestSchema,
  WatchSessionsResponseSchema,
  type UpdateAck,
} from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { concatFields } from "../../src/grpc/length-delimited.js";
import { MAX_STRUCT_DEPTH } from "../../src/grpc/request-decoding.js";
import { ServingStatus, watchHealth } from "../support/health-watch.js";
import { RawClient, type RawResult } from "../support/raw-grpc.js";
import { startSidecar, type Sidecar } from "../support/sidecar-process.js";
import { concatBytes } from "../../src/grpc/length-delimited.js";
import { lengthDelimited, nestedStructBytes } from "../support/wire-bytes.js";

/**
 * Seeded fuzzing of every RPC of sessionstore.v1 against one real sidecar on
 * SQLite: random bytes, and valid requests with their bytes mutated, sent as
 * they are. Whatever arrives, the sidecar answers every call with a status
 * carrying ErrorInfo (or OK), keeps serving, and leaves the sessions the fuzz
 * does not own as they were. FUZZ_SEED picks another run; a failure prints the
 * seed and the bytes of the first requests that went wrong.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const MIN_REQUESTS = 10_000;
const CONCURRENCY = 12;
const MAX_MESSAGE_BYTES = 256 * 1024;
/** Tokens: the bridge's tenant holds the sessions that must not change; CleanupSessions runs in a scratch tenant, where deleting is harmless. */
const BRIDGE = "bridge-token-0123456789";
const SCRATCH = "scratch-token-0123456789";
const KEPT = ["keep-0", "keep-1", "keep-2", "keep-3", "keep-4"];
/** The kept sessions' owner_epoch after one resume; the fuzz writes to them only with other epochs. */
const KEPT_EPOCH = 2n;

/** mulberry32: small, seedable, good enough to pick cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rand {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(length: number): Uint8Array {
    return Uint8Array.from({ length }, () => this.int(256));
  }
}

const encode = <S extends DescMessage>(schema: S, init: MessageInitShape<S>): Uint8Array => toBinary(schema, create(schema, init));

/** A valid SessionUpdate of one of the fuzz's own sessions. */
function validUpdate(r: Rand): Uint8Array {
  const conversationId = `fz-${r.int(40)}`;
  return encode(SessionUpdateSchema, {
    conversationId,
    seq: BigInt(r.int(50)),
    updateMask: { paths: r.pick([["caller"], ["metadata"], ["status"], ["current_turn", "error_count"], []]) },
    session: { caller: "x", metadata: { turn: r.int(9) }, status: r.pick([SessionStatus.ACTIVE, SessionStatus.PAUSED, SessionStatus.ENDED]), currentTurn: r.int(9) },
    appendHistory: r.int(2) ? [{ itemId: `i${r.int(1000)}`, role: "user", type: "message", text: "hello", data: { k: [1, "two", { three: true }] } }] : [],
    upsertFunctionCalls: r.int(4) === 0 ? [{ callId: `c${r.int(5)}`, functionName: "lookup", arguments: "{}" }] : [],
    appendAudio: r.int(2) ? [{ data: r.bytes(r.int(400)) }] : [],
  });
}

/** A request that reaches deep: a Struct nested close to, or past, what the sidecar accepts. */
function deepCreate(r: Rand): Uint8Array {
  const session = concatBytes(encode(SessionSchema, { conversationId: `fz-${r.int(40)}` }), lengthDelimited(SessionSchema.field.metadata.number, nestedStructBytes(MAX_STRUCT_DEPTH - 10 + r.int(20))));
  return lengthDelimited(CreateSessionRequestSchema.field.session.number, session);
}

/** Valid requests of each unary RPC, all about the fuzz's own sessions (CleanupSessions is sent in the scratch tenant). */
const validRequests: Record<string, (r: Rand) => Uint8Array> = {
  CreateSession: (r) =>
    r.int(5) === 0
      ? deepCreate(r)
      : encode(CreateSessionRequestSchema, {
          session: { conversationId: `fz-${r.int(40)}`, bridgeType: "audiocodes", caller: "+15550100", metadata: { lang: "en", n: r.int(9) }, conversationHistory: [{ itemId: "a", text: "hi" }] },
          ownerId: "pod-a",
        }),
  GetSession: (r) => encode(GetSessionRequestSchema, { conversationId: r.pick([`fz-${r.int(40)}`, ...KEPT]), view: r.pick([SessionView.BASIC, SessionView.FULL]) }),
  ResumeSession: (r) =>
    encode(ResumeSessionRequestSchema, { conversationId: `fz-${r.int(40)}`, ownerId: `pod-${r.int(3)}`, createIfMissing: r.int(2) === 0, session: { caller: "y" }, view: SessionView.FULL }),
  ValidateResume: (r) => encode(ValidateResumeRequestSchema, { conversationId: r.pick([`fz-${r.int(40)}`, ...KEPT]) }),
  UpdateSession: (r) => lengthDelimited(UpdateSessionRequestSchema.field.update.number, validUpdate(r)),
  EndSession: (r) => encode(EndSessionRequestSchema, { conversationId: `fz-${r.int(40)}`, reason: "done" }),
  DeleteSession: (r) => encode(DeleteSessionRequestSchema, { conversationId: `fz-${r.int(40)}` }),
  ListSessions: (r) => encode(ListSessionsRequestSchema, { pageSize: r.int(20), statuses: r.int(2) ? [SessionStatus.ACTIVE] : [], bridgeType: r.pick(["", "audiocodes"]), view: SessionView.FULL }),
  CleanupSessions: (r) => encode(CleanupSessionsRequestSchema, { maxAge: { seconds: BigInt(r.int(3)) }, dryRun: r.int(2) === 0 }),
  GetStats: () => encode(GetStatsRequestSchema, {}),
};

const validWatch = (r: Rand): Uint8Array =>
  encode(WatchSessionsRequestSchema, { conversationId: r.pick(["", `fz-${r.int(40)}`, ...KEPT]), statuses: r.int(2) ? [SessionStatus.ACTIVE, SessionStatus.ENDED] : [] });

/** How long an accepted watch is kept open: it ends with its deadline, the one status without ErrorInfo that is expected. */
const WATCH_MS = 100;

/** Writes to the kept sessions that must be refused, sent unmutated: a wrong epoch (fenced) or a wrong etag. */
function refusedWriteToKept(r: Rand): { method: string; bytes: Uint8Array } {
  const conversationId = r.pick(KEPT);
  const update = { conversationId, appendHistory: [{ itemId: "intruder", text: "must not be stored" }], updateMask: { paths: ["caller"] }, session: { caller: "mallory" } };
  return r.pick([
    { method: "UpdateSession", bytes: encode(UpdateSessionRequestSchema, { update: { ...update, ownerEpoch: KEPT_EPOCH - 1n } }) },
    { method: "UpdateSession", bytes: encode(UpdateSessionRequestSchema, { update: { ...update, ownerEpoch: KEPT_EPOCH + 1n } }) },
    { method: "UpdateSession", bytes: encode(UpdateSessionRequestSchema, { update: { ...update, etag: "not-the-etag" } }) },
    { method: "EndSession", bytes: encode(EndSessionRequestSchema, { conversationId, ownerEpoch: KEPT_EPOCH + 5n, reason: "fuzz" }) },
    { method: "DeleteSession", bytes: encode(DeleteSessionRequestSchema, { conversationId, etag: "not-the-etag" }) },
  ]);
}

/** One of a handful of byte-level mutations, applied once or a few times. */
function mutate(r: Rand, input: Uint8Array): Uint8Array {
  let bytes: Uint8Array = Uint8Array.from(input);
  for (let round = 1 + r.int(3); round > 0; round--) {
    const at = r.int(bytes.length + 1);
    switch (r.int(9)) {
      case 0: // flip a bit
        if (bytes.length > 0) bytes[at % bytes.length]! ^= 1 << r.int(8);
        break;
      case 1: // an interesting byte: a tag's or a length's edge
        if (bytes.length > 0) bytes[at % bytes.length] = r.pick([0x00, 0x01, 0x7f, 0x80, 0xff, 0x0f, 0x0a, 0xc3]);
        break;
      case 2: // truncate
        bytes = bytes.subarray(0, at);
        break;
      case 3: // insert random bytes
        bytes = concatBytes(bytes.subarray(0, at), r.bytes(1 + r.int(8)), bytes.subarray(at));
        break;
      case 4: // delete a range
        bytes = concatBytes(bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + 1 + r.int(8))));
        break;
      case 5: // repeat a slice: fields given twice, merged or last-wins
        bytes = concatBytes(bytes, bytes.subarray(at, Math.min(bytes.length, at + 1 + r.int(64))));
        break;
      case 6: // an unknown field, of any wire type
        bytes = concatBytes(bytes, Uint8Array.from([((100 + r.int(900)) << 3) | r.int(8)]), r.bytes(r.int(6)));
        break;
      case 7: // a length prefix that lies
        bytes = concatBytes(bytes.subarray(0, at), Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f]), bytes.subarray(at));
        break;
      case 8: // invalid UTF-8 where text was
        if (bytes.length > 1) bytes.set([0xc3, 0x28].slice(0, bytes.length - (at % bytes.length)), at % bytes.length);
        break;
    }
  }
  return bytes;
}

/**
 * A request's bytes: random, a valid one mutated, a valid one as is, or now
 * and then one over the message size limit. `validShare` is the share of
 * valid ones: high on the update streams, where one undecodable message ends
 * the stream and what follows it is never read.
 */
function fuzzBytes(r: Rand, valid: (r: Rand) => Uint8Array, validShare = 0.2): Uint8Array {
  const choice = r.next();
  if (choice < 0.002) return r.bytes(MAX_MESSAGE_BYTES + 1 + r.int(1000));
  if (choice < validShare) return valid(r);
  if (choice < validShare + (1 - validShare) / 3) return r.bytes(r.int(10) === 0 ? r.int(4000) : r.int(64));
  return mutate(r, valid(r));
}

interface Planned {
  method: string;
  token: string;
  /** One message for a unary call; the stream's messages, in order, for a stream. */
  messages: Uint8Array[];
}

/** Every call of the run, decided up front from the seed: the same seed sends the same bytes. */
function plan(seed: number): Planned[] {
  const r = new Rand(seed);
  const calls: Planned[] = [];
  const unary = SessionStoreService.methods.filter((m) => m.methodKind === "unary").map((m) => m.name);
  for (let sent = 0; sent < MIN_REQUESTS; ) {
    const kind = r.int(20);
    let call: Planned;
    if (kind < 2) {
      const { method, bytes } = refusedWriteToKept(r);
      call = { method, token: BRIDGE, messages: [bytes] };
    } else if (kind < 4) {
      call = { method: "StreamUpdates", token: BRIDGE, messages: Array.from({ length: 1 + r.int(12) }, () => fuzzBytes(r, validUpdate, 0.8)) };
    } else if (kind < 6) {
      const batch = (): Uint8Array => concatFields(1, Array.from({ length: 1 + r.int(6) }, () => (r.int(4) === 0 ? mutate(r, validUpdate(r)) : validUpdate(r))));
      call = { method: "StreamUpdateBatches", token: BRIDGE, messages: Array.from({ length: 1 + r.int(8) }, () => fuzzBytes(r, batch, 0.8)) };
    } else if (kind === 6) {
      call = { method: "WatchSessions", token: BRIDGE, messages: [fuzzBytes(r, validWatch)] };
    } else {
      const method = r.pick(unary);
      call = { method, token: method === "CleanupSessions" ? SCRATCH : BRIDGE, messages: [fuzzBytes(r, validRequests[method]!)] };
    }
    calls.push(call);
    sent += call.messages.length;
  }
  return calls;
}

/** What is wrong with a status, if anything: every error names its reason in ErrorInfo, and none is an internal failure. */
function statusProblem(result: Pick<RawResult, "code" | "errorDetails">): string | undefined {
  if (result.code === status.OK) return undefined;
  const info = result.errorDetails.errorInfo;
  if (!info || info.domain !== "sessionstore" || info.reason === "") return `status ${status[result.code]} without ErrorInfo`;
  if (result.code === status.INTERNAL || result.code === status.UNKNOWN) return `internal failure (${info.reason})`;
  return undefined;
}

function ackProblem(ack: UpdateAck): string | undefined {
  return ack.error ? statusProblem({ code: ack.error.code, errorDetails: statusDetailsOf(ack.error) }) : undefined;
}

describe("fuzz", () => {
  let sidecar: Sidecar;
  let client: SessionStoreClient;
  const before = new Map<string, Uint8Array>();

  beforeAll(async () => {
    sidecar = await startSidecar({ args: ["--max-message-bytes", String(MAX_MESSAGE_BYTES), "--auth-tokens", `${BRIDGE}=bridge:admin,${SCRATCH}=scratch:admin`, "--log-level", "info"] });
    client = sidecar.client({ token: BRIDGE });
    for (const [i, conversationId] of KEPT.entries()) {
      await client.createSession({
        session: { conversationId, bridgeType: "twilio", caller: `+1555010${i}`, metadata: { plan: "gold", i }, conversationHistory: [{ itemId: "greeting", role: "assistant", text: "Hello" }] },
        ownerId: "pod-a",
      });
      await client.resumeSession({ conversationId, ownerId: "pod-b" });
      await client.updateSession({
        update: { conversationId, ownerEpoch: KEPT_EPOCH, seq: 1n, appendAudio: [{ data: new Uint8Array(320).fill(i) }], upsertFunctionCalls: [{ callId: "c1", functionName: "book", arguments: "{}" }] },
      });
      const { session } = await client.getSession({ conversationId, view: SessionView.FULL });
      expect(session?.ownerEpoch).toBe(KEPT_EPOCH);
      before.set(conversationId, toBinary(SessionSchema, session!));
    }
  });
  afterAll(async () => {
    await sidecar?.stop();
  });

  it(`answers ${MIN_REQUESTS}+ fuzzed requests on every RPC with ErrorInfo, keeps serving, and changes no session it does not own (seed ${SEED})`, { timeout: 120_000 }, async () => {
    const calls = plan(SEED);
    const raw = new RawClient(sidecar.address);
    const problems: string[] = [];
    const byMethod = new Map<string, number>();
    const byCode = new Map<string, number>();
    const count = (code: status, reason: string | undefined): void => {
      const key = code === status.OK ? "OK" : `${status[code]} ${reason}`;
      byCode.set(key, (byCode.get(key) ?? 0) + 1);
    };
    const note = (call: Planned, what: string): void => {
      if (problems.length < 10) problems.push(`${call.method}: ${what}; messages ${call.messages.map((m) => Buffer.from(m.subarray(0, 48)).toString("hex")).join(" ")}`);
      else problems.push(call.method);
    };
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < calls.length; i = next++) {
        const call = calls[i]!;
        byMethod.set(call.method, (byMethod.get(call.method) ?? 0) + call.messages.length);
        // Long enough for a loaded machine: a call cut off by it (a client-side DEADLINE_EXCEEDED, without ErrorInfo) means the sidecar hung on it.
        const options = { token: call.token, timeoutMs: 60_000 };
        if (call.method === "StreamUpdates" || call.method === "StreamUpdateBatches") {
          const result = await raw.stream(call.method, call.messages, options);
          const problem = statusProblem(result);
          if (problem) note(call, `${problem}: ${result.details}`);
          count(result.code, result.errorDetails.errorInfo?.reason);
          const acks = result.responses.flatMap((r) => (call.method === "StreamUpdates" ? [fromBinary(UpdateAckSchema, r)] : fromBinary(StreamUpdateBatchesResponseSchema, r).acks));
          for (const ack of acks) {
            count(ack.error?.code ?? status.OK, ack.error && statusDetailsOf(ack.error).errorInfo?.reason);
            const ackError = ackProblem(ack);
            if (ackError) note(call, `ack of ${ack.conversationId}: ${ackError}: ${ack.error?.message}`);
          }
        } else if (call.method === "WatchSessions") {
          const result = await raw.serverStream(call.method, call.messages[0]!, { ...options, timeoutMs: WATCH_MS });
          count(result.code, result.errorDetails.errorInfo?.reason);
          const problem = result.code === status.DEADLINE_EXCEEDED ? undefined : statusProblem(result);
          if (problem) note(call, `${problem}: ${result.details}`);
          // Whatever events it saw meanwhile are well-formed, and BASIC.
          for (const event of result.responses.map((bytes) => fromBinary(WatchSessionsResponseSchema, bytes))) {
            if (event.session === undefined || event.session.conversationHistory.length > 0 || event.session.audioBuffer.length > 0) note(call, "an event without its BASIC session");
          }
        } else {
          const result = await raw.unary(call.method, call.messages[0]!, options);
          count(result.code, result.errorDetails.errorInfo?.reason);
          const problem = statusProblem(result);
          if (problem) note(call, `${problem}: ${result.details}`);
        }
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    raw.close();
    const sent = [...byMethod.values()].reduce((a, b) => a + b, 0);
    console.log(`fuzz seed ${SEED}: ${sent} requests in ${calls.length} calls, ${Date.now() - started} ms`, Object.fromEntries(byMethod), Object.fromEntries(byCode));

    expect(problems, `seed ${SEED}`).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(MIN_REQUESTS);
    expect([...byMethod.keys()].sort()).toEqual(SessionStoreService.methods.map((m) => m.name).sort());

    // Still alive and serving.
    expect(() => process.kill(sidecar.pid, 0)).not.toThrow();
    const health = watchHealth(sidecar.address);
    await health.until(ServingStatus.SERVING);
    health.close();
    expect(sidecar.logs.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([]);

    // The sessions it did not own are byte for byte as they were.
    for (const [conversationId, bytes] of before) {
      const { session } = await client.getSession({ conversationId, view: SessionView.FULL });
      expect(Buffer.from(toBinary(SessionSchema, session!)).equals(Buffer.from(bytes)), conversationId).toBe(true);
    }
  });
});
