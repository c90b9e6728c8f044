import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/runtime/logger.js";

function capture(level: Parameters<typeof createLogger>[0] = "info") {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(level, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe("createLogger", () => {
  it("writes one JSON object per line, with the module of the child that wrote it", () => {
    const { logger, lines } = capture();
    logger.child({ module: "server" }).info({ rpc: "GetSession" }, "call");
    expect(lines).toEqual([expect.objectContaining({ level: 30, module: "server", rpc: "GetSession", msg: "call" })]);
    expect(new Date(lines[0]?.time as string).toISOString()).toBe(lines[0]?.time);
  });

  it("drops lines below its level", () => {
    const { logger, lines } = capture("warn");
    logger.info("quiet");
    logger.warn("loud");
    expect(lines.map((l) => l.msg)).toEqual(["loud"]);
  });

  // The safety net for a session or request object logged by mistake.
  it("redacts conversation text, audio, function calls and tokens at the top level and one level down", () => {
    const { logger, lines } = capture();
    logger.info(
      {
        session: { conversationId: "c-1", conversationHistory: [{ text: "my card is 4111" }], audioBuffer: [{ data: "AAAA" }], functionCalls: [{ arguments: "{}" }] },
        update: { appendHistory: [{ text: "secret" }], appendAudio: [{ data: "BBBB" }], upsertFunctionCalls: [] },
        item: { text: "hello", data: { card: "4111" } },
        text: "top-level text",
        metadata: { authorization: "Bearer tok" },
      },
      "oops",
    );
    const line = lines[0] as Record<string, Record<string, unknown>>;
    expect(line.session).toEqual({ conversationId: "c-1", conversationHistory: "[redacted]", audioBuffer: "[redacted]", functionCalls: "[redacted]" });
    expect(line.update).toEqual({ appendHistory: "[redacted]", appendAudio: "[redacted]", upsertFunctionCalls: "[redacted]" });
    expect(line.item).toEqual({ text: "[redacted]", data: "[redacted]" });
    expect(line.text).toBe("[redacted]");
    expect(line.metadata).toEqual({ authorization: "[redacted]" });
    expect(JSON.stringify(lines)).not.toMatch(/4111|secret|AAAA|BBBB|Bearer/);
  });

  it("redacts a child logger's bindings, at the top level and one level down, in its children's lines too", () => {
    const { logger, lines } = capture();
    const child = logger.child({ module: "stream", text: "said on the phone", update: { conversationId: "c-2", appendHistory: [{ text: "secret" }] } });
    child.child({ item: { data: "AAAA" } }).info("from a grandchild");
    expect(lines[0]).toEqual(expect.objectContaining({ module: "stream", text: "[redacted]", update: { conversationId: "c-2", appendHistory: "[redacted]" }, item: { data: "[redacted]" } }));
    expect(JSON.stringify(lines)).not.toMatch(/phone|secret|AAAA/);
  });

  it("redacts an error's own sensitive properties and keeps its type, message and stack", () => {
    const { logger, lines } = capture();
    const err = Object.assign(new TypeError("bad frame"), { data: "AAAA", code: 7 });
    logger.error({ err }, "failed");
    expect(lines[0]?.err).toEqual(expect.objectContaining({ type: "TypeError", message: "bad frame", code: 7, data: "[redacted]", stack: expect.stringContaining("bad frame") }));
    expect(err.data).toBe("AAAA");
  });

  it("leaves the objects it was given as they were", () => {
    const { logger } = capture();
    const fields = { text: "kept", session: { conversationHistory: ["kept"] } };
    logger.child({ bound: { data: "kept" } }).info(fields, "line");
    expect(fields).toEqual({ text: "kept", session: { conversationHistory: ["kept"] } });
  });
});
