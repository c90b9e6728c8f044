import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectRpcError } from "../support/grpc-expect.js";
import { startSidecar, type Sidecar } from "../support/sidecar-process.js";

// With auth on, a bearer token picks the tenant, and tenants never see each other.
describe("tenancy", () => {
  let sidecar: Sidecar;

  beforeAll(async () => {
    sidecar = await startSidecar({ env: { SESSIONSTORE_AUTH_TOKENS: "token-alpha-0123456789=alpha:admin,token-beta-0123456789=beta:admin" } });
  });
  afterAll(async () => {
    await sidecar.stop();
  });

  it("refuses calls without a known bearer token", async () => {
    await expectRpcError(sidecar.client().getStats(), status.UNAUTHENTICATED, "UNAUTHENTICATED");
    await expectRpcError(sidecar.client({ token: "guess" }).getStats(), status.UNAUTHENTICATED, "UNAUTHENTICATED");
  });

  it("keeps each tenant's sessions to itself", async () => {
    const alpha = sidecar.client({ token: "token-alpha-0123456789" });
    const beta = sidecar.client({ token: "token-beta-0123456789" });
    await alpha.createSession({ session: { conversationId: "shared-id", caller: "alpha-caller" } });
    await expectRpcError(beta.getSession({ conversationId: "shared-id" }), status.NOT_FOUND, "SESSION_NOT_FOUND");
    await expectRpcError(beta.resumeSession({ conversationId: "shared-id" }), status.NOT_FOUND, "SESSION_NOT_FOUND");
    await expectRpcError(beta.deleteSession({ conversationId: "shared-id" }), status.NOT_FOUND, "SESSION_NOT_FOUND");
    expect((await beta.listSessions({})).sessions).toEqual([]);
    await beta.createSession({ session: { conversationId: "shared-id", caller: "beta-caller" } });
    expect((await alpha.getSession({ conversationId: "shared-id" })).session?.caller).toBe("alpha-caller");
    expect((await beta.getSession({ conversationId: "shared-id" })).session?.caller).toBe("beta-caller");
    await new Promise((r) => setTimeout(r, 20));
    // A cleanup by one tenant sweeps only its own sessions, however old the others are.
    expect((await beta.cleanupSessions({ maxAge: { seconds: 0n, nanos: 10_000_000 } })).deletedCount).toBe(1);
    await expectRpcError(beta.getSession({ conversationId: "shared-id" }), status.NOT_FOUND, "SESSION_NOT_FOUND");
    expect((await alpha.getSession({ conversationId: "shared-id" })).session?.caller).toBe("alpha-caller");
  });
});
