import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The fenced code blocks of the README and docs/*.md, as the snippet runner
 * (test/e2e/doc-snippets.test.ts) runs them. A block's info string is its
 * language, then optional attributes:
 *   norun="why"  not run; the runner lists it with the reason (a command that
 *                installs from a registry, serves until stopped, needs your
 *                cluster, …). Every block of a language that runs must either
 *                run or say why it does not.
 *   exit=N       a shell block expected to exit with N (its last command fails
 *                on purpose, e.g. a grpcurl call answered NOT_FOUND).
 * Blocks of data or output languages (json, text, a bare ```, yaml) are not
 * programs; yaml blocks are parsed, the rest are listed as not code.
 */
export const REPO = fileURLToPath(new URL("../..", import.meta.url));

/** The languages the runner executes; every other language is data. */
export const RUNNABLE = ["ts", "python", "go", "sh"] as const;
export type RunnableLanguage = (typeof RUNNABLE)[number];

export interface Snippet {
  /** Path from the repository root, e.g. "README.md". */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The `## ` heading the block is under ("" before the first). */
  section: string;
  language: string;
  body: string;
  /** Why the block is not run; undefined when it runs. */
  norun: string | undefined;
  /** Expected exit status of a shell block. */
  exit: number;
}

/** The documents whose blocks are run, in a stable order. */
export function documents(): string[] {
  const docs = readdirSync(`${REPO}docs`)
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", ...docs];
}

const FENCE = /^```([^\n]*)\n([\s\S]*?)^```$/gm;
const ATTRIBUTE = /(\w+)=(?:"([^"]*)"|(\S+))/g;

export function snippetsOf(file: string): Snippet[] {
  return parseSnippets(file, readFileSync(`${REPO}${file}`, "utf8"));
}

/** The fenced blocks of a markdown text; `file` names it in errors. */
export function parseSnippets(file: string, markdown: string): Snippet[] {
  return [...markdown.matchAll(FENCE)].map((match) => {
    const info = match[1]!.trim();
    const language = info.split(/\s+/, 1)[0] ?? "";
    const attributes = new Map([...info.slice(language.length).matchAll(ATTRIBUTE)].map(([, key, quoted, bare]) => [key!, quoted ?? bare ?? ""]));
    const unknown = [...attributes.keys()].filter((key) => key !== "norun" && key !== "exit");
    const before = markdown.slice(0, match.index);
    const line = before.split("\n").length;
    const section = [...before.matchAll(/^## (.+)$/gm)].at(-1)?.[1]?.trim() ?? "";
    if (unknown.length > 0) throw new Error(`${file}:${line}: unknown snippet attribute ${unknown.join(", ")} (norun="why" or exit=N)`);
    if (attributes.get("norun") === "") throw new Error(`${file}:${line}: norun needs its reason, norun="why"`);
    return { file, line, section, language, body: match[2]!, norun: attributes.get("norun"), exit: Number(attributes.get("exit") ?? 0) };
  });
}

export function isRunnable(snippet: Snippet): snippet is Snippet & { language: RunnableLanguage } {
  return (RUNNABLE as readonly string[]).includes(snippet.language);
}

/** Where the documents name the default sidecar, the runner puts its own (free port, temp file). */
export function localize(body: string, sidecar: { address: string; dbPath: string }): string {
  return body.replaceAll("127.0.0.1:50051", sidecar.address).replaceAll("localhost:50051", sidecar.address).replaceAll("./data/sessionstore.db", sidecar.dbPath);
}
