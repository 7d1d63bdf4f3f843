import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalAzure } from "../../local-azure";
import { type AuthzWorld, buildAuthzWorld, runAuthzCase } from "./authzHarness";
import { AUTHZ_ACTIONS, AUTHZ_CASES, AUTHZ_PRINCIPALS, AUTHZ_SCOPES } from "./cases";

/**
 * Local Azure as an authorization server: every principal x scope x action of the table, over
 * ARM's HTTPS API with a real token for that principal, must get exactly the expected decision
 * (2xx allow, 403 AuthorizationFailed deny; anything else is a failure of its own).
 */

let azure: LocalAzure;
let world: AuthzWorld;

beforeAll(async () => {
  azure = await LocalAzure.start({ faults: { rbacDelaySeconds: 0, directoryReplicationSeconds: 0 } });
  world = await buildAuthzWorld(azure);
});

afterAll(async () => {
  await azure?.stop();
});

describe("authorization table", () => {
  it("covers every principal, scope and action", () => {
    expect(AUTHZ_CASES).toHaveLength(AUTHZ_PRINCIPALS.length * AUTHZ_SCOPES.length * AUTHZ_ACTIONS.length);
  });

  it.each(AUTHZ_CASES.map((row) => [row.principal, row.action, row.scope, row.expected, row] as const))(
    "%s: %s at %s -> %s",
    async (_principal, _action, _scope, expected, row) => {
      expect(await runAuthzCase(world, row)).toBe(expected);
    },
  );
});
