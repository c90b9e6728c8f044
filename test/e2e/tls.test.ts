import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { SessionStoreClient, type SessionStoreClientOptions, SessionUpdateSchema, type UpdateAck } from "../../src/client/index.js";
import { type Sidecar, runCli, startSidecar } from "../support/sidecar-process.js";
import { type Issued, makeCa } from "../support/test-pki.js";
import { toolPath } from "../support/tools.js";

const sidecars: Sidecar[] = [];
const clients: SessionStoreClient[] = [];
afterEach(async () => {
  clients.splice(0).forEach((c) => c.close());
  await Promise.all(sidecars.splice(0).map((s) => s.stop()));
});

/** A sidecar with plaintext on --listen and TLS on --tls-listen, both on free loopback ports; returns it and its TLS address. */
async function startTlsSidecar(server: { certFile: string; keyFile: string }, extra: string[] = []): Promise<{ sidecar: Sidecar; tlsAddress: string }> {
  const sidecar = await startSidecar({
    args: ["--storage", "memory", "--tls-listen", "127.0.0.1:0", "--tls-cert", server.certFile, "--tls-key", server.keyFile, ...extra],
  });
  sidecars.push(sidecar);
  const tlsAddress = String(sidecar.logs.find((l) => l.msg === "listening")?.tlsAddress);
  expect(tlsAddress).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(tlsAddress).not.toBe(sidecar.address);
  return { sidecar, tlsAddress };
}

function client(address: string, options: SessionStoreClientOptions): SessionStoreClient {
  const c = new SessionStoreClient(address, { retry: false, timeoutMs: 5000, ...options });
  clients.push(c);
  return c;
}

function grpcurl(args: string[]): Promise<{ exitCode: number; output: string }> {
  return new Promise((resolve) => {
    execFile(toolPath("grpcurl"), ["-max-time", "5", ...args], (err, stdout, stderr) => {
      resolve({ exitCode: err ? Number(err.code ?? -1) : 0, output: stdout + stderr });
    });
  });
}

/** The serial of the certificate a fresh TLS handshake with the sidecar is given. */
function servedSerial(address: string, ca: Buffer, identity?: Issued): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, ca, ALPNProtocols: ["h2"], ...(identity ? { cert: identity.cert, key: identity.key } : {}) }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.end();
    });
    socket.on("error", reject);
  });
}

async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > end) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("TLS on --tls-listen", () => {
  it("serves the API, health and reflection over TLS to clients trusting the CA, plaintext stays on --listen", async () => {
    const ca = makeCa("sessionstore test CA");
    const server = ca.server();
    const { sidecar, tlsAddress } = await startTlsSidecar(server);
    expect(sidecar.logs.find((l) => l.msg === "TLS certificate loaded")).toMatchObject({ serial: server.serial, clientCertificates: "not asked" });

    const overTls = client(tlsAddress, { tls: { ca: ca.cert } });
    await overTls.createSession({ session: { conversationId: "tls-call", caller: "+15550100" } });
    // The same server behind both listeners: the bridge on loopback sees what came in over TLS.
    const plain = client(sidecar.address, {});
    expect((await plain.getSession({ conversationId: "tls-call" })).session?.caller).toBe("+15550100");

    const list = await grpcurl(["-cacert", ca.certFile, tlsAddress, "list"]);
    expect(list).toMatchObject({ exitCode: 0 });
    expect(list.output).toContain("sessionstore.v1.SessionStoreService");
    const health = await grpcurl(["-cacert", ca.certFile, "-d", '{"service":"sessionstore.v1.SessionStoreService"}', tlsAddress, "grpc.health.v1.Health/Check"]);
    expect(health).toMatchObject({ exitCode: 0 });
    expect(JSON.parse(health.output)).toEqual({ status: "SERVING" });
  });

  it("refuses plaintext clients and clients that do not trust its CA on the TLS port", async () => {
    const ca = makeCa("sessionstore test CA");
    const { tlsAddress } = await startTlsSidecar(ca.server());

    const plaintext = client(tlsAddress, {});
    await expect(plaintext.getStats({})).rejects.toMatchObject({ code: status.UNAVAILABLE });
    const plainCurl = await grpcurl(["-plaintext", tlsAddress, "list"]);
    expect(plainCurl.exitCode).not.toBe(0);

    const other = makeCa("another CA");
    const untrusting = client(tlsAddress, { tls: { ca: other.cert } });
    await expect(untrusting.getStats({})).rejects.toMatchObject({ code: status.UNAVAILABLE });
    const curlOtherCa = await grpcurl(["-cacert", other.certFile, tlsAddress, "list"]);
    expect(curlOtherCa.exitCode).not.toBe(0);
    expect(curlOtherCa.output).toMatch(/certificate/);
  });
});

describe("mTLS with --tls-client-ca", () => {
  it("completes the handshake only for a client certificate signed by that CA", async () => {
    const serverCa = makeCa("server CA");
    const clientCa = makeCa("client CA");
    const { sidecar, tlsAddress } = await startTlsSidecar(serverCa.server(), ["--tls-client-ca", clientCa.certFile]);
    expect(sidecar.logs.find((l) => l.msg === "TLS certificate loaded")).toMatchObject({ clientCertificates: "required" });

    const withoutCertificate = client(tlsAddress, { tls: { ca: serverCa.cert } });
    await expect(withoutCertificate.getStats({})).rejects.toMatchObject({ code: status.UNAVAILABLE });
    // A certificate the server's CA signed is still not one the client CA signed.
    const wrong = serverCa.client("intruder");
    const withWrongCertificate = client(tlsAddress, { tls: { ca: serverCa.cert, cert: wrong.cert, key: wrong.key } });
    await expect(withWrongCertificate.getStats({})).rejects.toMatchObject({ code: status.UNAVAILABLE });

    const right = clientCa.client();
    const withRightCertificate = client(tlsAddress, { tls: { ca: serverCa.cert, cert: right.cert, key: right.key } });
    await withRightCertificate.createSession({ session: { conversationId: "mtls-call" } });
    expect((await withRightCertificate.getSession({ conversationId: "mtls-call" })).session?.conversationId).toBe("mtls-call");

    expect(() => client(tlsAddress, { tls: { ca: serverCa.cert, cert: right.cert } })).toThrow("tls.cert and tls.key go together");

    const curlWithout = await grpcurl(["-cacert", serverCa.certFile, tlsAddress, "list"]);
    expect(curlWithout.exitCode).not.toBe(0);
    const curlWith = await grpcurl(["-cacert", serverCa.certFile, "-cert", right.certFile, "-key", right.keyFile, tlsAddress, "grpc.health.v1.Health/Check"]);
    expect(curlWith).toMatchObject({ exitCode: 0 });
    expect(JSON.parse(curlWith.output)).toEqual({ status: "SERVING" });
    // The plaintext listener is the loopback one, for the bridge in the same pod: no certificate asked there.
    expect((await client(sidecar.address, {}).getStats({})).activeSessions).toBe(1n);
  });
});

/**
 * A Kubernetes Secret volume as the kubelet writes it: the files are symlinks
 * into "..data", itself a symlink to a timestamped directory; an update writes
 * a new directory and renames a new "..data" over the old one.
 */
class SecretVolume {
  readonly dir = mkdtempSync(join(tmpdir(), "sessionstore-secret-"));
  private version = 0;

  constructor(files: Record<string, Buffer>) {
    this.write(files);
    for (const name of Object.keys(files)) symlinkSync(join("..data", name), join(this.dir, name));
  }

  file(name: string): string {
    return join(this.dir, name);
  }

  write(files: Record<string, Buffer>): void {
    this.version += 1;
    const version = `..v${this.version}`;
    mkdirSync(join(this.dir, version));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(this.dir, version, name), content);
    symlinkSync(version, join(this.dir, "..data_tmp"));
    renameSync(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
  }
}

describe("certificate rotation", () => {
  it("serves a certificate replaced on disk to new handshakes while an open update stream keeps acking", async () => {
    const ca = makeCa("sessionstore test CA");
    const first = ca.server();
    const volume = new SecretVolume({ "tls.crt": first.cert, "tls.key": first.key });
    const { sidecar, tlsAddress } = await startTlsSidecar(
      { certFile: volume.file("tls.crt"), keyFile: volume.file("tls.key") },
      ["--tls-reload-interval", "100ms"],
    );
    expect(await servedSerial(tlsAddress, ca.cert)).toBe(first.serial);

    const bridge = client(tlsAddress, { tls: { ca: ca.cert } });
    const created = await bridge.createSession({ session: { conversationId: "rotating-call" } });
    const ownerEpoch = created.session!.ownerEpoch;
    const stream = bridge.openUpdateStream();
    const acks: UpdateAck[] = [];
    const failures: unknown[] = [];
    stream.on("data", (ack: UpdateAck) => acks.push(ack));
    stream.on("error", (err) => failures.push(err));
    stream.on("end", () => failures.push("stream ended"));
    let seq = 0n;
    const send = async () => {
      seq += 1n;
      stream.write(create(SessionUpdateSchema, { conversationId: "rotating-call", ownerEpoch, seq, appendHistory: [{ itemId: `item-${seq}` }] }));
      const want = seq;
      await until(async () => acks.length, () => acks.some((a) => a.seq === want));
      expect(acks.find((a) => a.seq === want)).toMatchObject({ applied: true });
    };
    await send();

    // Caught mid-rotation: a new certificate beside the old key is no valid
    // pair, and the old certificate stays in use rather than none.
    const second = ca.server();
    volume.write({ "tls.crt": second.cert, "tls.key": first.key });
    await until(async () => sidecar.logs.filter((l) => l.msg.startsWith("the TLS files changed but do not make a valid certificate")).length, (n) => n > 0);
    expect(await servedSerial(tlsAddress, ca.cert)).toBe(first.serial);
    await send();

    volume.write({ "tls.crt": second.cert, "tls.key": second.key });
    expect(await until(() => servedSerial(tlsAddress, ca.cert), (serial) => serial === second.serial)).toBe(second.serial);
    expect(sidecar.logs.find((l) => l.msg === "TLS certificate reloaded")).toMatchObject({ serial: second.serial });

    // The stream opened under the first certificate goes on.
    await send();
    await send();
    // And a new client handshakes with the new certificate.
    const late = client(tlsAddress, { tls: { ca: ca.cert } });
    expect((await late.getSession({ conversationId: "rotating-call" })).session?.conversationHistory.map((i) => i.itemId)).toEqual([
      "item-1", "item-2", "item-3", "item-4",
    ]);
    expect(failures).toEqual([]);
    stream.end();
    expect(JSON.stringify(sidecar.logs)).not.toContain("PRIVATE KEY");
  });
});

describe("TLS start-up problems", () => {
  it("refuses to start, naming the file, with a missing key or a key of another certificate, never printing a key", async () => {
    const ca = makeCa("sessionstore test CA");
    const a = ca.server();
    const b = ca.server();
    const base = ["serve", "--storage", "memory", "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0", "--tls-cert", a.certFile];

    const missing = await runCli([...base, "--tls-key", "/nonexistent/tls.key"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("sessionstore: cannot load the TLS certificate: cannot read --tls-key /nonexistent/tls.key: ENOENT\n");

    const mismatched = await runCli([...base, "--tls-key", b.keyFile]);
    expect(mismatched.code).toBe(1);
    expect(mismatched.stderr).toMatch(new RegExp(`^sessionstore: cannot load the TLS certificate: --tls-key ${b.keyFile} does not fit --tls-cert ${a.certFile}: .+\\n$`));

    const notPem = await runCli([...base.slice(0, -1), b.keyFile, "--tls-key", b.keyFile]);
    expect(notPem.code).toBe(1);
    expect(notPem.stderr).toContain(`--tls-cert ${b.keyFile} is not a PEM certificate`);
    for (const run of [missing, mismatched, notPem]) expect(run.stderr + run.stdout).not.toContain("PRIVATE KEY");

    const noKey = await runCli(["serve", "--storage", "memory", "--tls-listen", "127.0.0.1:0", "--tls-cert", a.certFile]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain("--tls-listen (from --tls-listen) needs --tls-key too");
  });
});
