import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";

/** The PEM files of the TLS listener, as the operator named them. */
export interface TlsFiles {
  cert: string;
  key: string;
  /** CA bundle client certificates must chain to; "" when clients need none. */
  clientCa: string;
}

/** One consistent reading of the files: what the listener's secure context is built from. */
interface Loaded {
  options: SecureContextOptions;
  certificate: X509Certificate;
}

/**
 * Server credentials whose certificate follows the files on disk.
 *
 * grpc-js calls every watcher of its credentials with new secure-context
 * options and hands them to the listener's setSecureContext: new handshakes
 * use them while connections already open keep theirs, so a rotation cuts no
 * update stream. The files are polled, content compared, rather than watched:
 * a Kubernetes Secret volume rotates by swapping a symlinked directory, which
 * fs.watch on the files does not report.
 *
 * grpc-js's own file-watching certificate provider reports a failed read as
 * "no certificate", upon which the listener drops every new connection; a
 * file caught half-written in a rotation would do that. Here a reading that
 * does not make a valid set (certificate, its key, the CA) is logged and the
 * previous certificate stays in use until a later poll reads a valid one.
 */
export class RotatingTlsCredentials extends grpc.ServerCredentials {
  private readonly timer: NodeJS.Timeout;
  private readonly log: Logger;
  /** Digest of the file contents last looked at, valid or not, so each change is handled (and logged) once. */
  private seen: string;

  /** Reads and checks the files; throws, naming the file, when they cannot serve. */
  constructor(private readonly files: TlsFiles, reloadIntervalMs: number, logger: Logger) {
    const contents = readAll(files);
    const loaded = check(files, contents);
    const mtls = files.clientCa !== "";
    // requestCert with rejectUnauthorized: a client without a certificate
    // signed by the CA fails the handshake, before any call is read.
    super({ requestCert: mtls, rejectUnauthorized: mtls }, loaded.options);
    this.log = logger.child({ module: "tls" });
    this.seen = digest(contents);
    this.log.info({ ...describe(loaded.certificate), clientCertificates: mtls ? "required" : "not asked" }, "TLS certificate loaded");
    this.timer = setInterval(() => this.reload(), reloadIntervalMs).unref();
  }

  /** Stops polling the files. */
  close(): void {
    clearInterval(this.timer);
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }

  private reload(): void {
    let contents: Buffer[];
    try {
      contents = readAll(this.files);
    } catch (err) {
      // Missing for a moment while a rotation replaces the files; logged once per distinct problem.
      const problem = (err as Error).message;
      if (this.seen !== problem) this.log.warn({ problem }, "cannot read the TLS files; the previous certificate stays in use");
      this.seen = problem;
      return;
    }
    const seen = digest(contents);
    if (seen === this.seen) return;
    this.seen = seen;
    let loaded: Loaded;
    try {
      loaded = check(this.files, contents);
    } catch (err) {
      this.log.warn({ problem: (err as Error).message }, "the TLS files changed but do not make a valid certificate; the previous one stays in use");
      return;
    }
    this.updateSecureContextOptions(loaded.options);
    this.log.info(describe(loaded.certificate), "TLS certificate reloaded");
  }
}

function readAll(files: TlsFiles): Buffer[] {
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new Error(`cannot read ${flag} ${file}: ${code}`);
    }
  };
  const contents = [read("--tls-cert", files.cert), read("--tls-key", files.key)];
  if (files.clientCa !== "") contents.push(read("--tls-client-ca", files.clientCa));
  return contents;
}

/**
 * Builds the secure context once, the way the listener will, so a key that
 * does not belong to the certificate or a file that is not PEM is caught
 * here. Messages name the file, never its content: a key is a secret.
 */
function check(files: TlsFiles, [cert, key, ca]: Buffer[]): Loaded {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert!);
  } catch (err) {
    throw new Error(`--tls-cert ${files.cert} is not a PEM certificate: ${(err as Error).message}`);
  }
  if (ca !== undefined) {
    try {
      new X509Certificate(ca);
    } catch (err) {
      throw new Error(`--tls-client-ca ${files.clientCa} is not a PEM certificate: ${(err as Error).message}`);
    }
  }
  const options: SecureContextOptions = { cert, key, ...(ca === undefined ? {} : { ca }) };
  try {
    createSecureContext(options);
  } catch (err) {
    throw new Error(`--tls-key ${files.key} does not fit --tls-cert ${files.cert}: ${(err as Error).message}`);
  }
  return { options, certificate };
}

function digest(contents: Buffer[]): string {
  const hash = createHash("sha256");
  for (const content of contents) hash.update(createHash("sha256").update(content).digest());
  return hash.digest("hex");
}

/** What an operator checks in a log line: which certificate, until when. */
function describe(certificate: X509Certificate): Record<string, unknown> {
  const expired = Date.parse(certificate.validTo) < Date.now();
  return {
    subject: certificate.subject.replace(/\n/g, ", "),
    serial: certificate.serialNumber,
    fingerprint256: certificate.fingerprint256,
    validTo: new Date(certificate.validTo).toISOString(),
    ...(expired ? { expired } : {}),
  };
}
