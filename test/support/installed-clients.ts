import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO } from "./doc-snippets.js";

/**
 * The three clients installed the way a user outside this repository gets
 * them: the npm tarball `npm pack` makes, a wheel of clients/python in a fresh
 * venv, and the Go module served by a module proxy (a file:// one, laid out as
 * proxy.golang.org serves a tag). Each lives in a temp directory, never under
 * the repository, so nothing resolves through the checkout by accident.
 */
export interface Run {
  exitCode: number;
  output: string;
}

export function exec(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeoutMs ?? 300_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ exitCode: err ? (typeof err.code === "number" ? err.code : -1) : 0, output: stdout + stderr });
    });
  });
}

async function mustExec(command: string, args: string[], options: Parameters<typeof exec>[2] = {}): Promise<string> {
  const run = await exec(command, args, options);
  if (run.exitCode !== 0) throw new Error(`${command} ${args.join(" ")} exited ${run.exitCode}:\n${run.output}`);
  return run.output;
}

const manifest = JSON.parse(readFileSync(`${REPO}package.json`, "utf8")) as { name: string; version: string };
export const NPM_NAME = manifest.name;
export const VERSION = manifest.version;
export const GO_MODULE = "github.com/sessionstore/sessionstore/clients/go";

/** A program in one language, run against the installed client. */
export interface InstalledClient {
  dir: string;
  run(source: string): Promise<Run>;
}

/**
 * `npm pack` of this checkout (built by `npm run build`; --ignore-scripts so
 * packing does not build again), installed into a new project. The install
 * skips install scripts too: better-sqlite3 compiles its native module for the
 * sidecar (minutes), and the client never loads it. Snippets run with tsx and
 * are typechecked first against the package's published types.
 */
export async function installNpmPackage(): Promise<InstalledClient & { tarball: string }> {
  const dir = mkdtempSync(join(tmpdir(), "sessionstore-npm-"));
  const packed = (await mustExec("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], { cwd: REPO })).trim();
  const tarball = join(dir, (JSON.parse(packed.slice(packed.indexOf("["))) as { filename: string }[])[0]!.filename);
  const project = join(dir, "bridge");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "bridge", private: true, type: "module" }));
  await mustExec("npm", ["install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline", tarball], { cwd: project });
  const require = createRequire(`${REPO}package.json`);
  const tsx = pathToFileURL(require.resolve("tsx/esm")).href;
  const tsc = require.resolve("typescript/bin/tsc");
  const typeRoots = join(REPO, "node_modules", "@types");
  let count = 0;
  return {
    dir: project,
    tarball,
    async run(source) {
      const file = `snippet-${++count}.ts`;
      writeFileSync(join(project, file), source);
      const flags = ["--noEmit", "--strict", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext", "--skipLibCheck", "--types", "node", "--typeRoots", typeRoots];
      const typecheck = await exec(process.execPath, [tsc, ...flags, file], { cwd: project });
      if (typecheck.exitCode !== 0) return { exitCode: typecheck.exitCode, output: `tsc: ${typecheck.output}` };
      return exec(process.execPath, ["--import", tsx, file], { cwd: project, timeoutMs: 60_000 });
    },
  };
}

/** A wheel of clients/python (pip wheel, as `python -m build` would make it), in a fresh venv. */
export async function installPythonWheel(): Promise<InstalledClient & { wheel: string }> {
  const dir = mkdtempSync(join(tmpdir(), "sessionstore-py-"));
  await mustExec("python3", ["-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", join(dir, "dist"), join(REPO, "clients", "python")]);
  const wheel = join(dir, "dist", readdirSync(join(dir, "dist")).find((f) => f.endsWith(".whl"))!);
  await mustExec("python3", ["-m", "venv", join(dir, "venv")]);
  const python = join(dir, "venv", "bin", "python");
  await mustExec(python, ["-m", "pip", "install", "--quiet", wheel]);
  let count = 0;
  return {
    dir,
    wheel,
    async run(source) {
      const file = join(dir, `snippet_${++count}.py`);
      writeFileSync(file, source);
      // -I: isolated, so neither the cwd nor PYTHONPATH can put a checkout on the path.
      return exec(python, ["-I", file], { cwd: dir, timeoutMs: 60_000 });
    },
  };
}

/**
 * The Go module as a module proxy serves the tag clients/go/vX.Y.Z: the zip of
 * the committed clients/go tree (git archive of HEAD, as a tag would hold it),
 * its go.mod and info, under a file:// GOPROXY ahead of the usual one (which
 * serves the dependencies). A fresh module outside the repository `go get`s it.
 */
export async function installGoModule(): Promise<InstalledClient & { proxy: string }> {
  const dir = mkdtempSync(join(tmpdir(), "sessionstore-go-"));
  const proxy = join(dir, "proxy");
  const version = `v${VERSION}`;
  const at = join(proxy, ...GO_MODULE.split("/"), "@v");
  mkdirSync(at, { recursive: true });
  await mustExec("git", ["archive", "--format=zip", `--prefix=${GO_MODULE}@${version}/`, "-o", join(at, `${version}.zip`), "HEAD:clients/go"], { cwd: REPO });
  writeFileSync(join(at, `${version}.mod`), await mustExec("git", ["show", "HEAD:clients/go/go.mod"], { cwd: REPO }));
  writeFileSync(join(at, `${version}.info`), JSON.stringify({ Version: version, Time: new Date().toISOString() }));
  writeFileSync(join(at, "list"), `${version}\n`);

  const project = join(dir, "bridge");
  mkdirSync(project);
  const upstream = (await mustExec("go", ["env", "GOPROXY"])).trim();
  const cache = (await mustExec("go", ["env", "GOMODCACHE"])).trim();
  const env = {
    ...process.env,
    // A module cache of its own: the shared one may hold an earlier run's zip of the same
    // version, which Go would use instead of this one. The shared cache's download folder is
    // itself laid out as a proxy, so the dependencies still come from it when it has them.
    GOMODCACHE: join(dir, "modcache"),
    GOPROXY: [pathToFileURL(proxy).href, pathToFileURL(join(cache, "cache", "download")).href, upstream].join(","),
    // No checksum database knows a module served from a directory; the others are checked as usual.
    GONOSUMDB: GO_MODULE,
    GOFLAGS: "-mod=mod -modcacherw",
    GOWORK: "off",
  };
  await mustExec("go", ["mod", "init", "example.com/bridge"], { cwd: project, env });
  await mustExec("go", ["get", `${GO_MODULE}@${version}`], { cwd: project, env });
  return {
    dir: project,
    proxy,
    async run(source) {
      writeFileSync(join(project, "main.go"), source);
      const tidy = await exec("go", ["mod", "tidy"], { cwd: project, env });
      if (tidy.exitCode !== 0) return tidy;
      return exec("go", ["run", "."], { cwd: project, env, timeoutMs: 300_000 });
    },
  };
}
