import { describe, it } from "vitest";
import { readProtocolFixtures, runProtocolFixture } from "../support/protocol-fixture-runner.js";

// The shared protocol fixtures (test/fixtures/update-stream-protocol.json, the
// same cases the Python and Go helpers run) with BridgeUpdateStream, each on a
// real sidecar of its own: seq numbering, duplicates, replay across a drain and
// a SIGKILL, fencing, ending.
const { modes, fixtures } = readProtocolFixtures();

describe("the update stream protocol fixtures, with BridgeUpdateStream against a real sidecar", () => {
  for (const mode of modes) {
    describe(mode, () => {
      for (const fixture of fixtures) it(`${fixture.name}: ${fixture.about}`, () => runProtocolFixture(fixture, mode));
    });
  }
});
