import { inspect } from "node:util";
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Authenticator, TokenTable } from "../../src/server/auth.js";

const ADMIN = "admin-0f3c9a1b7d2e4c68";
const BRIDGE = "bridge-5e7d1c9b3a2f8e40";

function bearer(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

describe("TokenTable", () => {
  const table = new TokenTable([
    { token: ADMIN, tenant: "alpha", role: "admin" },
    { token: BRIDGE, tenant: "beta", role: "bridge" },
  ]);

  it("finds a token's tenant and role, and only for the whole token", () => {
    expect(table.lookup(ADMIN)).toEqual({ tenant: "alpha", role: "admin" });
    expect(table.lookup(BRIDGE)).toEqual({ tenant: "beta", role: "bridge" });
    for (const guess of ["", ADMIN.slice(0, -1), `${ADMIN}0`, ADMIN.toUpperCase(), "alpha"]) expect(table.lookup(guess)).toBeUndefined();
  });

  // The constant-time property: what the table compares is a digest, so nothing of
  // a token's text is kept to be compared (or logged, or dumped) byte by byte.
  it("holds digests only, never a token's text", () => {
    const dumped = inspect(table, { depth: 10, showHidden: true }) + JSON.stringify([...Object.values(table)]);
    expect(dumped).not.toContain(ADMIN);
    expect(dumped).not.toContain(BRIDGE);
    expect(dumped).not.toContain(Buffer.from(ADMIN).toString("base64"));
    expect(table.tenants()).toEqual(["alpha", "beta"]);
  });
});

describe("Authenticator", () => {
  it("is the default tenant with every right when auth is off", () => {
    expect(new Authenticator(new TokenTable([]), false).callerOf(new Metadata())).toEqual({ tenant: "default", role: "admin" });
  });

  it("refuses every call while on with no tokens, and takes a replaced table at once", () => {
    const auth = new Authenticator(new TokenTable([]), true);
    expect(() => auth.callerOf(bearer(ADMIN))).toThrow("the bearer token is not one this sidecar accepts");
    auth.replace(new TokenTable([{ token: ADMIN, tenant: "alpha", role: "admin" }]));
    expect(auth.callerOf(bearer(ADMIN))).toEqual({ tenant: "alpha", role: "admin" });
    expect(() => auth.callerOf(new Metadata())).toThrow("missing authorization metadata");
  });
});
