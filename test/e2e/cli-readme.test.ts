import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sessionstore, shell } from "../support/cli-run.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";

/** The README's "Operating" section: each ```sh block, and the output block under it. */
const SECTION = "## Operating";
const DOC_REDIS = "redis://127.0.0.1:6379";

interface Snippet {
  command: string;
  kind: "json" | "text";
  expected: string;
  exitCode: number;
}

function operatingSection(): string {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const start = readme.indexOf(`\n${SECTION}\n`);
  if (start < 0) throw new Error(`README.md has no "${SECTION}" section`);
  const end = readme.indexOf("\n## ", start + SECTION.length + 2);
  return readme.slice(start, end < 0 ? undefined : end);
}

function readSnippets(markdown: string): Snippet[] {
  const blocks = [...markdown.matchAll(/^```(\w*)([^\n]*)\n([\s\S]*?)^```$/gm)].map(([, lang, info, body]) => ({ lang, info: info!.trim(), body: body! }));
  const snippets: Snippet[] = [];
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i]!;
    if (block.lang !== "sh") throw new Error(`README ${SECTION}: a \`\`\`${block.lang} block without a command above it:\n${block.body}`);
    const output = blocks[++i];
    if (output?.lang !== "json" && output?.lang !== "text") throw new Error(`README ${SECTION}: the command ${block.body} has no json or text output block under it`);
    const exit = /exit=(\d+)/.exec(output.info);
    snippets.push({ command: block.body.trim(), kind: output.lang, expected: output.body, exitCode: exit ? Number(exit[1]) : 0 });
  }
  return snippets;
}

/** Expected lines: `...` alone stands for any lines, `…` in a line for any text. */
function textPattern(expected: string): RegExp {
  const escape = (line: string) => line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replaceAll("…", "[^\\n]*");
  const lines = expected.replace(/\n$/, "").split("\n");
  return new RegExp(`^${lines.map((line) => (line === "..." ? "(?:[^\\n]*\\n)*?" : `${escape(line)}\\n`)).join("")}$`);
}

function anyWhereEllipsis(value: unknown): unknown {
  if (value === "…") return expect.anything();
  if (Array.isArray(value)) return value.map(anyWhereEllipsis);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, anyWhereEllipsis(v)]));
  return value;
}

const snippets = readSnippets(operatingSection());
const OPERATOR_COMMANDS = ["sessions", "stats", "watch", "backup", "restore", "export", "import", "check"];

describe(`README ${SECTION}, run against a real sidecar`, () => {
  let redis: RedisServer;
  let sidecar: Sidecar;
  const cwd = mkdtempSync(join(tmpdir(), "sessionstore-readme-"));

  beforeAll(async () => {
    redis = await startRedisServer();
    mkdirSync(join(cwd, "data"));
    sidecar = await startSidecar({ dbPath: join(cwd, "data", "sessionstore.db") });
    const client = sidecar.client();
    await client.createSession({ session: { conversationId: "call-42", bridgeType: "audiocodes", conversationHistory: [{ role: "user", text: "hello" }] }, ownerId: "pod-a" });
  });
  afterAll(async () => {
    await sidecar?.stop();
    await redis?.stop();
  });

  it("shows each operator command group", () => {
    const shown = snippets.map((s) => s.command).join("\n");
    for (const command of ["sessions list", "sessions show", "sessions end", "stats", "backup", "restore", "export", "import"]) expect(shown).toContain(`sessionstore ${command}`);
  });

  snippets.forEach((snippet, i) => {
    it(`${i + 1}. ${snippet.command}`, async () => {
      const command = snippet.command.replaceAll(DOC_REDIS, redis.url);
      const { code, stdout, stderr } = await shell(command, { cwd, env: { SESSIONSTORE_ADDRESS: sidecar.address } });
      const output = stdout + stderr;
      expect({ code, output: code === snippet.exitCode ? "" : output }).toEqual({ code: snippet.exitCode, output: "" });
      if (snippet.kind === "json") expect(JSON.parse(output)).toMatchObject(anyWhereEllipsis(JSON.parse(snippet.expected)) as object);
      else expect(output).toMatch(textPattern(snippet.expected.replaceAll(DOC_REDIS, redis.url)));
    });
  });
});

describe("the operator commands in the README and their --help", () => {
  it("are all in the Operating section, so the test above runs each of them", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const commands = [...readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)]
      .flatMap(([, body]) => body!.replace(/\\\n\s*/g, "").split("\n"))
      .filter((line) => OPERATOR_COMMANDS.some((c) => line.startsWith(`sessionstore ${c}`)));
    const documented = new Set(snippets.map((s) => s.command));
    for (const command of commands) expect(documented, command).toContain(command);
  });

  it("lists every command in --help, and each command's --help its flags", async () => {
    const top = await sessionstore(["--help"]);
    for (const command of ["serve", ...OPERATOR_COMMANDS]) expect(top.stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
    const flags: Record<string, string[]> = {
      "sessions list": ["--address", "--token", "--tls-ca", "--tls-cert", "--tls-key", "--timeout", "--json", "--status", "--bridge-type", "--limit", "SESSIONSTORE_ADDRESS", "SESSIONSTORE_TOKEN"],
      "sessions show": ["--basic", "--json"],
      "sessions end": ["--reason"],
      "sessions delete": ["--etag"],
      stats: ["--json"],
      watch: ["--limit", "--json"],
      backup: ["--to", "--sqlite-path", "--config"],
      restore: ["--from", "--sqlite-path"],
      export: ["--to", "--tenant", "--storage", "--redis-url", "--sqlite-path", "sessionstore.export.v1"],
      import: ["--from", "--replace", "--storage", "--redis-url", "sessionstore.export.v1"],
      check: ["--sqlite-path"],
      serve: ["ms, s,", "(days)", "--max-session-age"],
    };
    for (const [command, expected] of Object.entries(flags)) {
      const help = await sessionstore([...command.split(" "), "--help"]);
      expect(help.code, command).toBe(0);
      for (const flag of expected) expect(help.stdout, `${command} --help`).toContain(flag);
    }
  });
});
