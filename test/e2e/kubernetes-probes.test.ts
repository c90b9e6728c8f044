import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import YAML from "yaml";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";
import { makeCa } from "../support/test-pki.js";
import { toolPath } from "../support/tools.js";

const MANIFEST = fileURLToPath(new URL("../../deploy/kubernetes/base/bridge-with-sidecar.yaml", import.meta.url));

interface Container {
  name: string;
  env?: { name: string; value?: string }[];
  startupProbe?: { exec?: { command: string[] } };
  readinessProbe?: { exec?: { command: string[] } };
  livenessProbe?: { exec?: { command: string[] } };
}

function sidecarContainer(): Container {
  const deployment = YAML.parseAllDocuments(readFileSync(MANIFEST, "utf8"))
    .map((d) => d.toJS() as { kind: string; spec: { template: { spec: { initContainers: Container[] } } } })
    .find((d) => d.kind === "Deployment")!;
  // A native sidecar: an init container that keeps running (test/e2e/kubernetes-manifests.test.ts).
  return deployment.spec.template.spec.initContainers.find((c) => c.name === "sessionstore")!;
}

/** Runs grpc_health_probe as the kubelet's exec probe would; the exit code is the verdict. */
function probe(args: string[]): Promise<{ exitCode: number; output: string }> {
  return new Promise((resolve) => {
    execFile(toolPath("grpc-health-probe"), args, (err, stdout, stderr) => resolve({ exitCode: err ? Number(err.code ?? -1) : 0, output: stdout + stderr }));
  });
}

const sidecars: Sidecar[] = [];
afterEach(async () => {
  await Promise.all(sidecars.splice(0).map((s) => s.stop()));
});

describe("the probes of deploy/kubernetes/base/bridge-with-sidecar.yaml", () => {
  it("are exec probes of the plaintext loopback listener that pass against a sidecar with TLS on", async () => {
    const container = sidecarContainer();
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? ""]));
    expect(env.SESSIONSTORE_LISTEN).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(env.SESSIONSTORE_TLS_LISTEN).toMatch(/^0\.0\.0\.0:\d+$/);

    const ca = makeCa("cluster CA");
    const server = ca.server();
    // The manifest mounts a tokens Secret; the probes need no token, since health stays open.
    expect(env.SESSIONSTORE_AUTH_TOKENS_FILE).toBe("/etc/sessionstore/tokens");
    const tokensFile = join(mkdtempSync(join(tmpdir(), "sessionstore-probes-")), "bridges");
    writeFileSync(tokensFile, "0f3c9a1b7d2e4c68aa01=voice\n");
    // The manifest's settings, with this test's files and free ports (the harness's --listen flag wins over the env).
    const sidecar = await startSidecar({
      args: ["--storage", "memory"],
      env: {
        ...env,
        SESSIONSTORE_TLS_LISTEN: "127.0.0.1:0",
        SESSIONSTORE_TLS_CERT: server.certFile,
        SESSIONSTORE_TLS_KEY: server.keyFile,
        SESSIONSTORE_TLS_CLIENT_CA: ca.certFile,
        SESSIONSTORE_AUTH_TOKENS_FILE: tokensFile,
      },
    });
    sidecars.push(sidecar);

    for (const kind of ["startupProbe", "readinessProbe", "livenessProbe"] as const) {
      const [binary, ...args] = container[kind]!.exec!.command;
      expect(binary).toBe("grpc_health_probe");
      // The probe asks the listener the manifest puts on loopback.
      expect(args).toContain(`-addr=${env.SESSIONSTORE_LISTEN}`);
      const run = await probe(args.map((a) => (a === `-addr=${env.SESSIONSTORE_LISTEN}` ? `-addr=${sidecar.address}` : a)));
      expect({ kind, ...run }).toMatchObject({ kind, exitCode: 0 });
      expect(run.output).toContain("status: SERVING");
    }
  });

  it("can probe the TLS listener instead, with a client certificate, as the manifest's comment says", async () => {
    const ca = makeCa("cluster CA");
    const server = ca.server();
    const sidecar = await startSidecar({
      args: ["--storage", "memory", "--tls-listen", "127.0.0.1:0", "--tls-cert", server.certFile, "--tls-key", server.keyFile, "--tls-client-ca", ca.certFile],
    });
    sidecars.push(sidecar);
    const tlsAddress = String(sidecar.logs.find((l) => l.msg === "listening")?.tlsAddress);
    const prober = ca.client("kubelet-probe");
    const tls = ["-tls", `-tls-ca-cert=${ca.certFile}`, "-tls-server-name=localhost", `-addr=${tlsAddress}`, "-service=liveness", "-connect-timeout=2s"];

    expect(await probe([...tls, `-tls-client-cert=${prober.certFile}`, `-tls-client-key=${prober.keyFile}`])).toMatchObject({ exitCode: 0 });
    expect((await probe(tls)).exitCode).not.toBe(0);
    // What the kubelet's built-in gRPC probe does there: plaintext, refused.
    expect((await probe([`-addr=${tlsAddress}`, "-service=liveness", "-connect-timeout=2s"])).exitCode).not.toBe(0);
  });
});
