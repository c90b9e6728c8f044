import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { Invalid } from "./config-values.js";
import { checkDistinct, parsePair, type TokenGrant } from "./auth-tokens.js";

/**
 * --auth-tokens-file: the tokens from a file, or from every file of a
 * directory, which is how Kubernetes mounts a Secret (one file per key; the
 * `..data` link and other dot-entries it adds are skipped). Each file holds
 * one `token=tenant[:role]` a line; blank lines and lines starting with "#"
 * are ignored. Problems name the file and line, never what the line holds.
 */
export interface TokensFileContents {
  grants: TokenGrant[];
  /** A digest of everything read, so a poll can tell whether anything changed without keeping the text. */
  fingerprint: string;
}

export function readTokensFile(location: string): TokensFileContents {
  let files: string[];
  try {
    files = statSync(location).isDirectory()
      ? readdirSync(location)
          .filter((name) => !name.startsWith("."))
          .sort()
          .map((name) => path.join(location, name))
          .filter((file) => statSync(file).isFile())
      : [location];
  } catch (err) {
    throw new Invalid(`auth-tokens-file ${location} cannot be read: ${(err as NodeJS.ErrnoException).code ?? "error"}`, true);
  }
  const digest = createHash("sha256");
  const named: { grant: TokenGrant; where: string }[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new Invalid(`auth-tokens-file ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? "error"}`, true);
    }
    digest.update(file).update("\u0000").update(text).update("\u0000");
    text.split(/\r?\n/).forEach((line, i) => {
      const trimmed = line.trim();
      if (trimmed === "" || trimmed.startsWith("#")) return;
      const where = `line ${i + 1} of ${file}`;
      named.push({ grant: parsePair(trimmed, `auth-tokens-file ${where}`, true), where: `auth-tokens-file ${where}` });
    });
  }
  checkDistinct(named, true);
  return { grants: named.map((n) => n.grant), fingerprint: digest.digest("hex") };
}
