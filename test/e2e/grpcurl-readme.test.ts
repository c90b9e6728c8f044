import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSidecar, type Sidecar } from "../support/sidecar-process.js";
import { toolPath } from "../support/tools.js";

/** The operator recipes as documented: each ```sh block and the output block under it. */
const DOC = "docs/grpcurl-recipes.md";
const DOC_ADDRESS = "localhost:50051";

interface Recipe {
  command: string;
  /** "json": the output parses to JSON containing the block's; "text": the lines match. */
  kind: "json" | "text";
  expected: string;
  exitCode: number;
}

function readRecipes(): Recipe[] {
  const markdown = readFileSync(new URL(`../../${DOC}`, import.meta.url), "utf8");
  const blocks = [...markdown.matchAll(/^```(\w*)([^\n]*)\n([\s\S]*?)^```$/gm)].map(([, lang, info, body]) => ({ lang, info: info!.trim(), body: body! }));
  const recipes: Recipe[] = [];
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i]!;
    if (block.lang !== "sh") throw new Error(`${DOC}: a \`\`\`${block.lang} block without a command above it:\n${block.body}`);
    const output = blocks[++i];
    if (output?.lang !== "json" && output?.lang !== "text") throw new Error(`${DOC}: the command ${block.body} has no json or text output block under it`);
    const exit = /exit=(\d+)/.exec(output.info);
    recipes.push({ command: block.body.trim(), kind: output.lang, expected: output.body, exitCode: exit ? Number(exit[1]) : 0 });
  }
  return recipes;
}

/** Runs a documented command as a shell would, with grpcurl on PATH and the sidecar's address. */
function run(command: string, address: string): Promise<{ exitCode: number; output: string }> {
  const PATH = `${dirname(toolPath("grpcurl"))}:${process.env.PATH}`;
  return new Promise((resolve) => {
    execFile("sh", ["-c", command.replaceAll(DOC_ADDRESS, address)], { env: { ...process.env, PATH } }, (err, stdout, stderr) => {
      resolve({ exitCode: err ? Number(err.code ?? -1) : 0, output: stdout + stderr });
    });
  });
}

/** `…` in expected JSON stands for any value. */
function anyWhereEllipsis(value: unknown): unknown {
  if (value === "…") return expect.anything();
  if (Array.isArray(value)) return value.map(anyWhereEllipsis);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, anyWhereEllipsis(v)]));
  return value;
}

/** Expected text lines, where a `...` line stands for any lines. */
function textPattern(expected: string): RegExp {
  const escape = (line: string) => line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const lines = expected.replace(/\n$/, "").split("\n");
  return new RegExp(`^${lines.map((line) => (line === "..." ? "(?:[^\\n]*\\n)*?" : `${escape(line)}\\n`)).join("")}$`);
}

const recipes = readRecipes();

describe(`grpcurl recipes of ${DOC}, against a real sidecar`, () => {
  let sidecar: Sidecar;

  beforeAll(async () => {
    sidecar = await startSidecar();
  });
  afterAll(async () => {
    await sidecar?.stop();
  });

  it("documents the operator's recipes: list, describe, health, create/get/resume/list/validate with -d JSON", () => {
    const commands = recipes.map((r) => r.command.replace(/\\\n\s*/g, ""));
    const has = (...parts: string[]) => commands.some((c) => parts.every((p) => c.includes(p)));
    expect(has("grpcurl", " list")).toBe(true);
    expect(has("describe sessionstore.v1.Session")).toBe(true);
    expect(has("grpc.health.v1.Health/Check")).toBe(true);
    for (const rpc of ["CreateSession", "GetSession", "ResumeSession", "ListSessions", "ValidateResume", "WatchSessions"]) {
      expect(has("-d '", `sessionstore.v1.SessionStoreService/${rpc}`), rpc).toBe(true);
    }
  });

  // In document order: later recipes read what earlier ones wrote.
  recipes.forEach((recipe, i) => {
    const title = recipe.command.replace(/\\\n\s*/g, "").replace(/ -d '.*?'/, " -d …");
    it(`${i + 1}. ${title}`, async () => {
      const { exitCode, output } = await run(recipe.command, sidecar.address);
      expect({ exitCode, output: exitCode === recipe.exitCode ? "" : output }).toEqual({ exitCode: recipe.exitCode, output: "" });
      if (recipe.kind === "json") expect(JSON.parse(output)).toMatchObject(anyWhereEllipsis(JSON.parse(recipe.expected)) as object);
      else expect(output).toMatch(textPattern(recipe.expected));
    });
  });
});

describe("grpcurl commands shown in the README", () => {
  it("are all recipes of the doc, so the test above runs each of them", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const shBlocks = [...readme.matchAll(/^```sh[^\n]*\n([\s\S]*?)^```$/gm)].map(([, body]) => body!);
    const commands = shBlocks
      .flatMap((body) => body.replace(/\\\n\s*/g, "").split("\n"))
      .filter((line) => line.startsWith("grpcurl "));
    const documented = new Set(recipes.map((r) => r.command.replace(/\\\n\s*/g, "")));
    expect(commands.length).toBeGreaterThan(0);
    for (const command of commands) expect(documented, command).toContain(command);
  });
});
