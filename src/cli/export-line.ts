import { fromJson, type JsonValue, toJsonString } from "@bufbuild/protobuf";
import { type Session, SessionSchema } from "../gen/sessionstore/v1/session_store_pb.js";
import { TENANT } from "../config/auth-tokens.js";

/**
 * One line of `sessionstore export` (docs/EXPORT-FORMAT.md is the reference):
 *
 *   {"format":"sessionstore.export.v1","tenant":"default","session":{…}}
 *
 * `session` is the FULL sessionstore.v1.Session in protobuf's canonical JSON
 * mapping (what grpcurl prints: lowerCamelCase names, int64 as strings, bytes
 * in base64, enums by name, RFC 3339 timestamps), so every field and every
 * audio byte is there and any protobuf library reads it. The format name
 * changes only for a change an older importer would misread; fields added to
 * Session keep v1, and an importer that does not know one refuses the line
 * (naming the field) rather than drop what it cannot store.
 */
export const EXPORT_FORMAT = "sessionstore.export.v1";

export interface ExportRecord {
  tenant: string;
  session: Session;
}

/** The line for one session, without the newline. */
export function exportLine(tenant: string, session: Session): string {
  // Built as text so that the session's JSON is written once, by protobuf-es, and keys stay in this order.
  return `{"format":${JSON.stringify(EXPORT_FORMAT)},"tenant":${JSON.stringify(tenant)},"session":${toJsonString(SessionSchema, session)}}`;
}

/** Why a line cannot be imported; the message names what is wrong. */
export class ExportLineError extends Error {}

/** The tenant and session of a line; ExportLineError when it is not a v1 export line. */
export function parseExportLine(text: string): ExportRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ExportLineError(`not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new ExportLineError("not a JSON object");
  const { format, tenant, session, ...rest } = value as Record<string, unknown>;
  if (format !== EXPORT_FORMAT) {
    throw new ExportLineError(`format is ${JSON.stringify(format)}; this build reads ${JSON.stringify(EXPORT_FORMAT)} (written by sessionstore export)`);
  }
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new ExportLineError(`unknown key ${JSON.stringify(extra[0])} beside format, tenant and session`);
  if (typeof tenant !== "string" || !TENANT.test(tenant)) throw new ExportLineError(`tenant ${JSON.stringify(tenant)} is not a tenant name (1-64 of A-Z a-z 0-9 . _ -)`);
  if (session === null || typeof session !== "object" || Array.isArray(session)) throw new ExportLineError("session must be a JSON object (a sessionstore.v1.Session)");
  try {
    return { tenant, session: fromJson(SessionSchema, session as JsonValue) };
  } catch (err) {
    throw new ExportLineError(`session is not a sessionstore.v1.Session: ${err instanceof Error ? err.message : String(err)}`);
  }
}
