import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

/**
 * The three clients' manifests name one repository, one version and the
 * package names the README tells users to install; a release tags all three
 * together (docs/RELEASING.md), so they must not drift apart.
 */
const REPOSITORY = "https://github.com/sessionstore/sessionstore";
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");

const npm = JSON.parse(read("package.json")) as {
  name: string;
  version: string;
  homepage: string;
  repository: { type: string; url: string };
  bugs: { url: string };
  bin: Record<string, string>;
  files: string[];
};
const pyproject = read("clients/python/pyproject.toml");
const goMod = read("clients/go/go.mod");

/** One key of a TOML table, enough for the flat [project] and [project.urls] tables. */
function tomlValue(table: string, key: string): string | undefined {
  const body = pyproject.split(/^\[/m).find((t) => t.startsWith(`${table}]`));
  return body?.match(new RegExp(`^${key}\\s*=\\s*"([^"]*)"`, "m"))?.[1];
}

describe("the clients' manifests", () => {
  it("use the chosen names: npm and PyPI sessionstore-client, the Go module under the repository's path", () => {
    expect(npm.name).toBe("sessionstore-client");
    expect(npm.bin).toEqual({ sessionstore: "bin/sessionstore.js" });
    expect(tomlValue("project", "name")).toBe("sessionstore-client");
    expect(goMod).toMatch(/^module github\.com\/sessionstore\/sessionstore\/clients\/go$/m);
  });

  it("name the repository in every manifest", () => {
    expect(npm.repository).toEqual({ type: "git", url: `git+${REPOSITORY}.git` });
    expect(npm.homepage).toMatch(new RegExp(`^${REPOSITORY}`));
    expect(npm.bugs.url).toBe(`${REPOSITORY}/issues`);
    expect(tomlValue("project.urls", "Homepage")).toBe(REPOSITORY);
    expect(tomlValue("project.urls", "Issues")).toBe(`${REPOSITORY}/issues`);
    expect(read("README.md")).toContain(REPOSITORY);
  });

  it("carry one version, the one the Go tag clients/go/vX.Y.Z is made of", () => {
    expect(tomlValue("project", "version")).toBe(npm.version);
    expect(read("docs/RELEASING.md")).toContain("clients/go/v");
  });

  it("publish to npm only what a user runs: the build, the bin, the protos and the README", () => {
    expect(npm.files.sort()).toEqual(["README.md", "bin", "dist", "proto"]);
  });
});
