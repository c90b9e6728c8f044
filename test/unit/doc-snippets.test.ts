import { describe, expect, it } from "vitest";
import { isRunnable, localize, parseSnippets } from "../support/doc-snippets.js";

/** How the snippet runner (test/e2e/doc-snippets.test.ts) reads a document's code blocks. */
const doc = (...blocks: string[]) => blocks.map((b) => `Some prose.\n\n${b}\n`).join("\n");

describe("parseSnippets", () => {
  it("reads each fenced block with its language, line and body", () => {
    const snippets = parseSnippets("x.md", doc("```ts\nconsole.log(1);\n```", "```\na diagram\n```", "```python\nprint(1)\n```"));
    expect(snippets.map((s) => [s.language, s.line, s.body, isRunnable(s)])).toEqual([
      ["ts", 3, "console.log(1);\n", true],
      ["", 9, "a diagram\n", false],
      ["python", 15, "print(1)\n", true],
    ]);
  });

  it("takes norun with its reason, and a shell block's expected exit status", () => {
    const [skipped, failing] = parseSnippets("x.md", doc('```sh norun="needs your cluster"\nkubectl apply -k .\n```', "```sh exit=69\ngrpcurl x\n```"));
    expect(skipped).toMatchObject({ norun: "needs your cluster", exit: 0 });
    expect(failing).toMatchObject({ norun: undefined, exit: 69 });
  });

  it("refuses a norun without a reason and an attribute it does not know, naming the file and line", () => {
    expect(() => parseSnippets("x.md", doc('```sh norun=""\nnpm test\n```'))).toThrow(/x\.md:3: norun needs its reason/);
    expect(() => parseSnippets("x.md", doc("```sh skip=yes\nnpm test\n```"))).toThrow(/x\.md:3: unknown snippet attribute skip/);
  });

  it("names the ## section a block is under, so a section another test runs can be left to it", () => {
    const snippets = parseSnippets("x.md", "```sh\na\n```\n\n## Operating\n\n### Sessions\n\n```sh\nb\n```\n\n## Next\n\n```sh\nc\n```\n");
    expect(snippets.map((s) => s.section)).toEqual(["", "Operating", "Next"]);
  });

  it("does not take a fence quoted inside a line of prose for a block", () => {
    expect(parseSnippets("x.md", 'Mark it (` ```sh norun="why" `) to skip.\n')).toEqual([]);
  });
});

describe("localize", () => {
  it("puts the runner's sidecar where a snippet names the default address and database", () => {
    const body = "grpcurl -plaintext localhost:50051 list\nopen_channel('127.0.0.1:50051')\nsessionstore check --sqlite-path ./data/sessionstore.db\n";
    expect(localize(body, { address: "127.0.0.1:41234", dbPath: "/tmp/t/s.db" })).toBe(
      "grpcurl -plaintext 127.0.0.1:41234 list\nopen_channel('127.0.0.1:41234')\nsessionstore check --sqlite-path /tmp/t/s.db\n",
    );
  });
});
