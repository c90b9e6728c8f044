import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { type Snippet, documents, isRunnable, localize, REPO, type RunnableLanguage, snippetsOf } from "../support/doc-snippets.js";
import { exec, type InstalledClient, installGoModule, installNpmPackage, installPythonWheel, type Run } from "../support/installed-clients.js";
import { BIN, type Sidecar, startSidecar } from "../support/sidecar-process.js";
import { toolPath } from "../support/tools.js";

/**
 * Every code block of README.md and docs/*.md, run in document order against
 * a fresh sidecar per document (so a snippet cannot lean on what a test wrote
 * before it). TypeScript, Python and Go snippets run against the clients as a
 * user outside this repository installs them (test/support/installed-clients.ts);
 * shell snippets run from the repository root with bash -e, with grpcurl and
 * the `sessionstore` command on PATH. A block marked norun="why" is listed,
 * with its reason, instead.
 */

/**
 * Documents ("file") and sections ("file#heading" of a `## ` heading) that
 * another test runs block by block, comparing each command's output with the
 * block under it.
 */
const OWN_RUNNER: Record<string, string> = {
  "docs/grpcurl-recipes.md": "test/e2e/grpcurl-readme.test.ts runs every command in order and compares its output",
  "README.md#Operating": "test/e2e/cli-readme.test.ts runs every command of the section in order and compares its output",
};
const ownRunner = (s: Snippet): string | undefined => OWN_RUNNER[s.file] ?? OWN_RUNNER[`${s.file}#${s.section}`];
const runsHere = (s: Snippet): boolean => isRunnable(s) && s.norun === undefined && !ownRunner(s);

const all = documents().flatMap((file) => snippetsOf(file));
const languages = new Set(all.filter(runsHere).map((s) => s.language));

const installed: Partial<Record<RunnableLanguage, InstalledClient>> = {};
let shellPath = "";

beforeAll(async () => {
  // The `sessionstore` command as `npm install -g sessionstore-client` puts it on PATH.
  const bin = mkdtempSync(join(tmpdir(), "sessionstore-bin-"));
  writeFileSync(join(bin, "sessionstore"), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  chmodSync(join(bin, "sessionstore"), 0o755);
  shellPath = [bin, dirname(toolPath("grpcurl")), process.env.PATH].join(":");
  const installs: Promise<void>[] = [];
  if (languages.has("ts")) installs.push(installNpmPackage().then((c) => void (installed.ts = c)));
  if (languages.has("python")) installs.push(installPythonWheel().then((c) => void (installed.python = c)));
  if (languages.has("go")) installs.push(installGoModule().then((c) => void (installed.go = c)));
  await Promise.all(installs);
}, 600_000);

function where(s: Snippet): string {
  return `${s.file}:${s.line}`;
}

/**
 * Go blocks that are a bridge's function rather than a program (the README's
 * `handleCall`, kept verbatim in clients/go/examples/readme) run as a file of
 * package main beside a driver that calls them as a bridge would: three
 * frames of a new call, against the runner's sidecar.
 */
const GO_DRIVERS: Record<string, (address: string) => string> = {
  handleCall: (address) => `
func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	frames := make(chan []byte, 3)
	for range 3 {
		frames <- make([]byte, 640)
	}
	close(frames)
	if err := handleCall(ctx, ${JSON.stringify(address)}, "call-"+rand.Text(), "pod-a", frames); err != nil {
		log.Fatal(err)
	}
}`,
};

function goProgram(body: string, address: string): string {
  if (/^package /m.test(body)) return body;
  const name = /^func (\w+)\(/m.exec(body)?.[1] ?? "";
  const driver = GO_DRIVERS[name];
  if (!driver) throw new Error(`a Go block that is neither a program nor a function with a driver (${name || "no func"}): add one to GO_DRIVERS, or mark it norun="why"`);
  // The block's own imports, and the driver's, merged into one import list.
  const imports = '\t"crypto/rand"\n\t"log"\n\t"time"\n';
  const source = body.replace(/^import \(\n/m, (m) => m + imports.split("\n").filter((l) => l && !body.includes(l.trim())).map((l) => `${l}\n`).join(""));
  return `package main\n\n${source}\n${driver(address)}\n`;
}

async function runSnippet(snippet: Snippet & { language: RunnableLanguage }, sidecar: Sidecar): Promise<Run> {
  const source = localize(snippet.body, sidecar);
  if (snippet.language === "sh") {
    return exec("bash", ["-e", "-o", "pipefail", "-c", source], { cwd: REPO, env: { ...process.env, PATH: shellPath }, timeoutMs: 120_000 });
  }
  if (snippet.language === "go") return installed.go!.run(goProgram(source, sidecar.address));
  return installed[snippet.language]!.run(source);
}

describe("code snippets of README.md and docs/*.md", () => {
  it("lists every block it does not run, and why", () => {
    const notRun = all.filter((s) => isRunnable(s) && !runsHere(s));
    const notCode = all.filter((s) => !isRunnable(s));
    const lines = [
      ...notRun.map((s) => `  ${where(s)} ${s.language}: ${s.norun ?? ownRunner(s)}`),
      ...notCode.map((s) => `  ${where(s)} ${s.language || "(no language)"}: not code (output, data or a diagram)${s.language === "yaml" ? "; parsed as YAML" : ""}`),
    ];
    console.log(`snippets not run (${lines.length} of ${all.length}):\n${lines.join("\n")}`);
    // Each one a reader might take for a program says why it is not run.
    for (const s of notRun) expect(s.norun ?? ownRunner(s), where(s)).toMatch(/\w{3,}/);
    expect(all.filter(runsHere).length).toBeGreaterThan(0);
  });

  it.each(all.filter((s) => s.language === "yaml").map((s) => [where(s), s] as const))("%s parses as YAML", (_where, s) => {
    expect(() => YAML.parseAllDocuments(s.body).forEach((d) => { if (d.errors.length > 0) throw d.errors[0]; })).not.toThrow();
  });

  for (const file of documents()) {
    const runnable = snippetsOf(file).filter((s): s is Snippet & { language: RunnableLanguage } => runsHere(s));
    if (runnable.length === 0) continue;
    describe(file, () => {
      let sidecar: Sidecar;
      beforeAll(async () => {
        sidecar = await startSidecar();
      });
      afterAll(async () => {
        await sidecar?.stop();
      });

      // In document order, as a reader pastes them; each twice, since ids are unique per run.
      for (const snippet of runnable) {
        it(`${where(snippet)} ${snippet.language} runs, and runs again`, async () => {
          for (const attempt of [1, 2]) {
            const { exitCode, output } = await runSnippet(snippet, sidecar);
            expect({ attempt, exitCode, output: exitCode === snippet.exit ? "" : output }).toEqual({ attempt, exitCode: snippet.exit, output: "" });
          }
        }, 300_000);
      }
    });
  }
});
