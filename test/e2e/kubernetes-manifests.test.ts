import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { exec } from "../support/installed-clients.js";
import { toolPath } from "../support/tools.js";

/**
 * The overlays of deploy/kubernetes as `kubectl apply -k` would send them:
 * rendered by kustomize, validated by kubernetes-validate (strict: an unknown
 * field is an error) against the schemas of the newest Kubernetes minor it
 * ships and the two before it, and read for what the README promises of them.
 */
const KUBERNETES = fileURLToPath(new URL("../../deploy/kubernetes/", import.meta.url));

interface Probe {
  exec: { command: string[] };
}
interface Container {
  name: string;
  restartPolicy?: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  securityContext?: Record<string, unknown>;
}
interface PodSpec {
  initContainers: Container[];
  containers: Container[];
  securityContext: Record<string, unknown>;
  volumes: { name: string; persistentVolumeClaim?: { claimName: string }; emptyDir?: unknown }[];
}
interface Resource {
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown> & { replicas?: number; strategy?: { type: string }; template?: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}

async function render(dir: string): Promise<{ yaml: string; resources: Resource[] }> {
  const run = await exec(toolPath("kustomize"), ["build", dir]);
  expect(run, run.output).toMatchObject({ exitCode: 0 });
  return { yaml: run.output, resources: YAML.parseAllDocuments(run.output).map((d) => d.toJS() as Resource) };
}

const one = (resources: Resource[], kind: string) => resources.filter((r) => r.kind === kind).at(0)!;
const pod = (resources: Resource[]) => one(resources, "Deployment").spec.template!.spec;
const env = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

/** The newest minor kubernetes-validate ships schemas for (its version is that Kubernetes'), and the two before. */
async function lastThreeMinors(): Promise<string[]> {
  const version = (await exec(toolPath("kubernetes-validate"), ["--version"])).output.trim();
  const [major, minor] = version.split(".").map(Number) as [number, number];
  return [0, 1, 2].map((back) => `${major}.${minor - back}.0`);
}

async function validate(file: string, version: string) {
  return exec(toolPath("kubernetes-validate"), ["--strict", "--kubernetes-version", version, file]);
}

const variants: Record<string, string> = {
  sqlite: join(KUBERNETES, "overlays/sqlite"),
  redis: join(KUBERNETES, "overlays/redis"),
};
const rendered: Record<string, { yaml: string; resources: Resource[]; file: string }> = {};

beforeAll(async () => {
  const out = mkdtempSync(join(tmpdir(), "sessionstore-k8s-"));
  // The sqlite overlay with the private-sidecar component, as the component's comment says to add it
  // (kustomize takes only relative paths).
  const withComponent = join(out, "sqlite-private");
  variants["sqlite+private-sidecar"] = withComponent;
  mkdirSync(withComponent);
  writeFileSync(
    join(withComponent, "kustomization.yaml"),
    YAML.stringify({ apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization", resources: [relative(withComponent, variants.sqlite!)], components: [relative(withComponent, join(KUBERNETES, "components/private-sidecar"))] }),
  );
  for (const [name, dir] of Object.entries(variants)) {
    const result = await render(dir);
    const file = join(out, `${name}.yaml`);
    writeFileSync(file, result.yaml);
    rendered[name] = { ...result, file };
  }
}, 120_000);

describe("deploy/kubernetes overlays", () => {
  it("validate strictly against the schemas of the last three Kubernetes minors kubernetes-validate ships", async () => {
    const versions = await lastThreeMinors();
    for (const [name, { file, resources }] of Object.entries(rendered)) {
      for (const version of versions) {
        const run = await validate(file, version);
        expect({ name, version, exitCode: run.exitCode, output: run.exitCode === 0 ? "" : run.output }).toEqual({ name, version, exitCode: 0, output: "" });
        // Every resource passed, but the cert-manager Certificate, whose schema is not Kubernetes'.
        const passed = run.output.split("\n").filter((l) => l.startsWith("INFO") && l.includes(" passed "));
        expect(passed.length, `${name} ${version}:\n${run.output}`).toBe(resources.filter((r) => r.kind !== "Certificate").length);
      }
    }
  });

  it("are refused by that validation when a field is misspelled (so the check above checks)", async () => {
    const broken = rendered.sqlite!.yaml.replace(/^( *)restartPolicy: Always$/m, "$1restartPolicy: Always\n$1restartPolicyy: Always");
    expect(broken).not.toBe(rendered.sqlite!.yaml);
    const file = join(mkdtempSync(join(tmpdir(), "sessionstore-k8s-broken-")), "broken.yaml");
    writeFileSync(file, broken);
    const [version] = await lastThreeMinors();
    const run = await validate(file, version!);
    expect(run.exitCode).not.toBe(0);
    expect(run.output).toMatch(/ERROR .*deployment\/voice-bridge.*restartPolicyy/);
  });

  it("run the sidecar as a native sidecar with startup, readiness and liveness probes of the services that mean each", () => {
    for (const { resources } of Object.values(rendered)) {
      const spec = pod(resources);
      expect(spec.containers.map((c) => c.name)).toEqual(["bridge"]);
      const sidecar = spec.initContainers.find((c) => c.name === "sessionstore")!;
      expect(sidecar.restartPolicy).toBe("Always");
      const service = (p: Probe | undefined) => p?.exec.command.find((a) => a.startsWith("-service="));
      expect(service(sidecar.startupProbe)).toBe("-service=liveness");
      expect(service(sidecar.livenessProbe)).toBe("-service=liveness");
      expect(service(sidecar.readinessProbe)).toBe("-service=sessionstore.v1.SessionStoreService");
    }
  });

  it("run every container as non-root, on a read-only root filesystem, without capabilities, under RuntimeDefault seccomp", () => {
    for (const { resources } of Object.values(rendered)) {
      const spec = pod(resources);
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
      for (const c of [...spec.initContainers, ...spec.containers]) {
        expect(c.securityContext, c.name).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
      }
    }
  });

  it("sqlite: one replica, replaced (not rolled) so the volume is let go first, on a PersistentVolumeClaim", () => {
    const { resources } = rendered.sqlite!;
    const deployment = one(resources, "Deployment");
    expect(deployment.spec).toMatchObject({ replicas: 1, strategy: { type: "Recreate" } });
    const data = pod(resources).volumes.find((v) => v.name === "sessionstore-data")!;
    expect(data).toEqual({ name: "sessionstore-data", persistentVolumeClaim: { claimName: "sessionstore-data" } });
    expect(one(resources, "PersistentVolumeClaim").metadata.name).toBe("sessionstore-data");
    expect(env(pod(resources).initContainers[0]!).SESSIONSTORE_STORAGE).toBeUndefined();
  });

  it("redis: several replicas whose sidecars all use the Redis of one Secret", () => {
    const { resources } = rendered.redis!;
    expect(one(resources, "Deployment").spec.replicas).toBeGreaterThan(1);
    const settings = env(pod(resources).initContainers[0]!);
    expect(settings.SESSIONSTORE_STORAGE).toBe("redis");
    expect(settings.SESSIONSTORE_REDIS_URL).toEqual({ secretKeyRef: { name: "sessionstore-redis", key: "url" } });
    expect(resources.find((r) => r.kind === "Secret" && r.metadata.name === "sessionstore-redis")).toBeDefined();
    expect(resources.find((r) => r.kind === "PersistentVolumeClaim")).toBeUndefined();
  });

  it("have a PodDisruptionBudget and a NetworkPolicy that select the bridge's pods; the component swaps the policy for the private one", () => {
    for (const [name, { resources }] of Object.entries(rendered)) {
      const labels = one(resources, "Deployment").spec.template!.metadata.labels;
      const pdb = one(resources, "PodDisruptionBudget").spec as { selector: { matchLabels: Record<string, string> }; maxUnavailable: number };
      expect(pdb.selector.matchLabels).toEqual(labels);
      expect(pdb.maxUnavailable).toBe(1);
      const policies = resources.filter((r) => r.kind === "NetworkPolicy");
      expect(policies.map((p) => p.metadata.name), name).toEqual([name.includes("private") ? "voice-bridge-sidecar-private" : "voice-bridge-ingress"]);
      expect((policies[0]!.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels).toEqual(labels);
    }
  });
});
