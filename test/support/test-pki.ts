import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toolPath } from "./tools.js";

/** A PEM certificate and its key, as files and as their contents. */
export interface Issued {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  /** Hex, upper case, as Node's getPeerCertificate().serialNumber reports it. */
  serial: string;
}

export interface CertificateAuthority extends Issued {
  /** A certificate for the sidecar at 127.0.0.1 / localhost. */
  server(name?: string): Issued;
  /** A certificate a client presents for mTLS. */
  client(name?: string): Issued;
}

/**
 * A private CA made with openssl in a fresh directory, and the certificates it
 * signs: what an operator's cert-manager Issuer would hand out. EC P-256 keys,
 * quick to make; one day of validity.
 */
export function makeCa(commonName: string): CertificateAuthority {
  const dir = mkdtempSync(join(tmpdir(), "sessionstore-pki-"));
  const openssl = (...args: string[]) => execFileSync(toolPath("openssl"), args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  let count = 0;

  const read = (name: string, serial: string): Issued => ({
    certFile: join(dir, `${name}.crt`),
    keyFile: join(dir, `${name}.key`),
    cert: readFileSync(join(dir, `${name}.crt`)),
    key: readFileSync(join(dir, `${name}.key`)),
    serial,
  });
  const serial = () => `5${randomBytes(8).toString("hex").toUpperCase().slice(1)}`;

  const caSerial = serial();
  openssl(
    "req", "-x509", ...newKey, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-set_serial", `0x${caSerial}`, "-subj", `/CN=${commonName}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  );

  const issue = (cn: string, extensions: string): Issued => {
    count += 1;
    const name = `leaf-${count}`;
    const leafSerial = serial();
    writeFileSync(join(dir, `${name}.ext`), extensions);
    openssl("req", ...newKey, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
    openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", `0x${leafSerial}`, "-out", `${name}.crt`, "-days", "1", "-extfile", `${name}.ext`);
    return read(name, leafSerial);
  };

  return {
    ...read("ca", caSerial),
    server: (cn = "sessionstore") =>
      issue(cn, "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"),
    client: (cn = "voice-bridge") => issue(cn, "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n"),
  };
}
