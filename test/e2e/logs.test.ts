import { status as GrpcCode } from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { SessionStatus } from "../../src/client/index.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { type LogLine, type Sidecar, startSidecar } from "../support/sidecar-process.js";
import { streamedUpdate } from "../support/update-stream-raw.js";

// What must never reach a log line: what callers said, and their audio.
const SECRET_TEXT = "my card number is 4111 1111 1111 1111";
const SECRET_AUDIO = Buffer.from("SECRET-AUDIO-PCM-SAMPLES-0123456789");

const PINO = { info: 30, warn: 40, error: 50 };

const sidecars: Sidecar[] = [];
afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
});

async function sidecar(args: string[]): Promise<Sidecar> {
  const s = await startSidecar({ args: ["--storage", "memory", ...args] });
  sidecars.push(s);
  return s;
}

async function eventually(find: () => LogLine | undefined, what: string, timeoutMs = 5_000): Promise<LogLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = find();
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no log line ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}


describe("log lines", () => {
  it("a refused resume and a fenced write each log method, code, reason, tenant and conversation_id; resumes log their epoch and latency; nothing said on the call is logged", async () => {
    const s = await sidecar(["--auth-tokens", "tok-acme-0123456789=acme", "--metrics-interval", "300ms"]);
    const client = s.client({ token: "tok-acme-0123456789", retry: false });
    const history = [{ itemId: "h1", role: "user", type: "message", text: SECRET_TEXT }];

    await client.createSession({ ownerId: "bridge-1", session: { conversationId: "hung-up", conversationHistory: history } });
    await client.endSession({ conversationId: "hung-up", ownerEpoch: 1n });
    await expectRpcError(client.resumeSession({ conversationId: "hung-up", ownerId: "bridge-2" }), GrpcCode.FAILED_PRECONDITION, "SESSION_ENDED");
    const refused = await eventually(() => s.logs.find((l) => l.method === "ResumeSession" && l.reason === "SESSION_ENDED"), "for the refused resume");
    expect(refused).toMatchObject({ level: PINO.info, code: GrpcCode.FAILED_PRECONDITION, tenant: "acme", conversation_id: "hung-up" });
    expect(typeof refused.latency_ms).toBe("number");

    await client.createSession({ ownerId: "bridge-1", session: { conversationId: "moved", conversationHistory: history } });
    await client.resumeSession({ conversationId: "moved", ownerId: "bridge-2" });
    const resumed = await eventually(() => s.logs.find((l) => l.method === "ResumeSession" && l.conversation_id === "moved" && l.reason === undefined), "for the resume");
    expect(resumed).toMatchObject({ level: PINO.info, tenant: "acme", owner_epoch: "2", fenced_epoch: "1", resumed_count: 1 });
    expect(typeof resumed.latency_ms).toBe("number");

    // The old owner writes on: unary, then streamed, each refused as fenced.
    const stale = { conversationId: "moved", ownerEpoch: 1n, updateMask: { paths: ["current_turn"] }, session: { currentTurn: 2 } };
    await expectRpcError(
      client.updateSession({ update: { ...stale, seq: 1n, appendHistory: [{ itemId: "h2", role: "assistant", type: "message", text: SECRET_TEXT }] } }),
      GrpcCode.FAILED_PRECONDITION,
      "SESSION_FENCED",
    );
    const ack = await streamedUpdate(client, { ...stale, seq: 2n, appendAudio: [{ data: SECRET_AUDIO }] });
    expect(ack.error?.code).toBe(GrpcCode.FAILED_PRECONDITION);
    for (const method of ["UpdateSession", "StreamUpdates"]) {
      const fenced = await eventually(() => s.logs.find((l) => l.method === method && l.reason === "SESSION_FENCED"), `for the fenced ${method}`);
      expect(fenced).toMatchObject({
        level: PINO.warn,
        code: GrpcCode.FAILED_PRECONDITION,
        tenant: "acme",
        conversation_id: "moved",
        details: { owner_epoch: "2", owner_id: "bridge-2" },
      });
    }

    // A call refused before it has a tenant still gets its line.
    const stranger = s.client({ token: "not-a-token", retry: false });
    await expectRpcError(stranger.getSession({ conversationId: "moved" }), GrpcCode.UNAUTHENTICATED, "UNAUTHENTICATED");
    const unauthenticated = await eventually(() => s.logs.find((l) => l.method === "GetSession" && l.reason === "UNAUTHENTICATED"), "for the unauthenticated call");
    expect(unauthenticated).toMatchObject({ level: PINO.warn, code: GrpcCode.UNAUTHENTICATED, conversation_id: "moved" });
    expect(unauthenticated.tenant).toBeUndefined();

    // Each summary counts what happened since the one before it, so together they count everything.
    const counted = ["created", "resumed", "resumes_refused", "updates_applied", "updates_refused", "fenced", "ended", "calls_failed"];
    const totals = () => {
      const sums: Record<string, number> = Object.fromEntries(counted.map((k) => [k, 0]));
      for (const l of s.logs.filter((line) => line.module === "summary")) for (const k of counted) sums[k]! += Number(l[k]);
      return sums;
    };
    await eventually(() => (totals().calls_failed! >= 3 ? s.logs[0] : undefined), "summing up every failed call");
    expect(totals()).toEqual({
      created: 2,
      resumed: 1,
      resumes_refused: 1,
      updates_applied: 0,
      updates_refused: 2,
      fenced: 2,
      ended: 1,
      // The refused resume, the fenced UpdateSession, the unauthenticated GetSession.
      calls_failed: 3,
    });
    const last = s.logs.filter((l) => l.module === "summary").at(-1)!;
    expect(last).toMatchObject({ level: PINO.info, live_by_status: { ACTIVE: 1, ENDED: 1 } });
    expect(typeof last.interval_s).toBe("number");

    const everything = JSON.stringify(s.logs) + s.stderr();
    expect(everything).not.toContain("4111");
    expect(everything).not.toContain("SECRET-AUDIO");
    expect(everything).not.toContain(SECRET_AUDIO.toString("base64").slice(0, 16));
  });

  it("logs no summary with --metrics-interval 0s", async () => {
    const s = await sidecar(["--metrics-interval", "0s"]);
    const client = s.client({ retry: false });
    await client.createSession({ ownerId: "b", session: { conversationId: "quiet", status: SessionStatus.INITIATED } });
    await new Promise((r) => setTimeout(r, 700));
    expect(s.logs.filter((l) => l.module === "summary")).toEqual([]);
  });
});
