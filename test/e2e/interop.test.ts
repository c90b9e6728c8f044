import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { clone, equals, fromBinary, fromJson, type JsonObject } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Session, SessionSchema, SessionStatus, type SessionStoreClient, SessionUpdateSchema, SessionView } from "../../src/client/index.js";
import { startSidecar, type Sidecar } from "../support/sidecar-process.js";

const exec = promisify(execFile);
const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

const CALL = "interop-call-1";
/** Every byte value, in chunks of different lengths: any re-encoding or truncation shows. */
const AUDIO = [256, 1000, 3200].map((length, c) => Uint8Array.from({ length }, (_, i) => (i * (c + 3) + c) % 256));
const GO_AUDIO = Uint8Array.from({ length: 640 }, (_, i) => 255 - (i % 256));

/** What the Python bridge writes, as proto3 JSON: every kind of Session field. */
const SPEC = {
  session: {
    conversationId: CALL,
    sessionId: "bridge-session-7",
    bridgeType: "audiocodes",
    botName: "voice-bot",
    caller: "+15550100",
    mediaFormat: "raw/lpcm16",
  },
  update: {
    updateMask: "currentTurn,audioMetadata,metadata,openaiSessionId,openaiConversationId,activeResponseId,errorCount,lastError",
    session: {
      currentTurn: 3,
      audioMetadata: { sampleRate: 16000, channels: 1, codec: "pcm16" },
      metadata: { tenant: "acme", tags: ["vip", "billing"], nested: { retry: true, ratio: 0.25 } },
      openaiSessionId: "sess_abc",
      openaiConversationId: "conv_def",
      activeResponseId: "resp_ghi",
      errorCount: 2,
      lastError: "model timeout, retried",
    },
    appendHistory: [
      { itemId: "u1", role: "user", type: "message", text: "Hallo, ich möchte meinen Kontostand wissen 💶", data: { lang: "de", confidence: 0.93 } },
      { itemId: "f1", role: "assistant", type: "function_call", text: "", data: { name: "get_balance" } },
      { itemId: "d1", role: "user", type: "dtmf", text: "4#" },
    ],
    upsertFunctionCalls: [{ callId: "call_1", functionName: "get_balance", arguments: '{"account":"42"}', status: "completed", result: '{"balance":10.5}' }],
  },
  audio: AUDIO.map((chunk) => Buffer.from(chunk).toString("base64")),
};

/** A Session's fields as the resume rules change them, taken from another Session. */
function withResumeFieldsOf(session: Session, from: Session): Session {
  const copy = clone(SessionSchema, session);
  for (const field of ["status", "resumedCount", "ownerId", "ownerEpoch", "etag", "lastActivity"] as const) {
    (copy as Record<string, unknown>)[field] = from[field];
  }
  return copy;
}

const decode = (line: string) => fromBinary(SessionSchema, Buffer.from(line, "base64"));

// One call served by three bridges in three languages, through one sidecar:
// Python writes it, Go resumes it and writes more, TypeScript reads it back.
describe("interop: Python writes, Go resumes, TypeScript reads", () => {
  let sidecar: Sidecar;
  let client: SessionStoreClient;
  let python: string;
  let goProgram: string;

  // On a fresh machine this installs the Python client into its venv and
  // downloads the Go module's dependencies: minutes, not the test's seconds.
  beforeAll(async () => {
    python = execFileSync(repo("scripts/python-venv.sh"), { encoding: "utf8" }).trim();
    goProgram = join(mkdtempSync(join(tmpdir(), "sessionstore-interop-")), "interop");
    await exec("go", ["build", "-o", goProgram, "./internal/interop"], { cwd: repo("clients/go"), timeout: 300_000 });
    sidecar = await startSidecar();
    client = sidecar.client();
  }, 360_000);
  afterAll(async () => {
    await sidecar?.stop();
  });

  it("keeps every field and every audio byte across the three clients", async () => {
    const py = exec(python, [repo("clients/python/tests/interop/write_session.py"), sidecar.address], { timeout: 60_000 });
    py.child.stdin!.end(JSON.stringify(SPEC));
    const fromPython = decode((await py).stdout.trim());

    const go = await exec(goProgram, ["-address", sidecar.address, "-call-id", CALL, "-audio", Buffer.from(GO_AUDIO).toString("base64")], { timeout: 60_000 });
    const [goResumed, goFinal] = go.stdout.trim().split("\n").map(decode);

    const { session: fromTs } = await client.getSession({ conversationId: CALL, view: SessionView.FULL });

    // Python wrote what the spec says, field for field.
    const expected = fromJson(SessionUpdateSchema, SPEC.update as unknown as JsonObject).session!;
    expect(fromPython).toMatchObject({ ...SPEC.session, status: SessionStatus.PAUSED, ownerId: "pod-python", resumedCount: 0, lastSeq: BigInt(AUDIO.length + 2) });
    for (const field of ["currentTurn", "openaiSessionId", "openaiConversationId", "activeResponseId", "errorCount", "lastError"] as const) {
      expect(fromPython[field], field).toEqual(expected[field]);
    }
    expect([fromPython.audioMetadata, fromPython.metadata]).toEqual([SPEC.update.session.audioMetadata, SPEC.update.session.metadata]);
    expect(fromPython.conversationHistory.map((h) => ({ itemId: h.itemId, role: h.role, type: h.type, text: h.text, data: h.data }))).toEqual(
      SPEC.update.appendHistory.map((h) => ({ data: undefined, ...h })),
    );
    expect(fromPython.functionCalls.map(({ callId, functionName, arguments: args, status, result }) => ({ callId, functionName, arguments: args, status, result }))).toEqual(
      SPEC.update.upsertFunctionCalls,
    );
    expect(fromPython.audioBuffer.map((c) => Buffer.from(c.data))).toEqual(AUDIO.map((a) => Buffer.from(a)));

    // Go resumed exactly what Python left, with only the resume's own changes.
    expect({ status: goResumed!.status, resumedCount: goResumed!.resumedCount, ownerId: goResumed!.ownerId, ownerEpoch: goResumed!.ownerEpoch }).toEqual({
      status: SessionStatus.ACTIVE,
      resumedCount: 1,
      ownerId: "pod-go",
      ownerEpoch: fromPython.ownerEpoch + 1n,
    });
    expect(equals(SessionSchema, withResumeFieldsOf(goResumed!, fromPython), fromPython)).toBe(true);

    // TypeScript reads what Go stored: Python's turns and audio, then Go's, byte for byte.
    expect(equals(SessionSchema, fromTs!, goFinal!)).toBe(true);
    expect(fromTs!.conversationHistory.map((h) => h.itemId)).toEqual(["u1", "f1", "d1", "go-1"]);
    expect(fromTs!.conversationHistory[0]!.text).toBe("Hallo, ich möchte meinen Kontostand wissen 💶");
    const audio = fromTs!.audioBuffer.map((c) => Buffer.from(c.data));
    expect(audio).toEqual([...AUDIO, GO_AUDIO].map((a) => Buffer.from(a)));
    expect(fromTs!.lastSeq).toBe(goResumed!.lastSeq + 1n);
  });
});
