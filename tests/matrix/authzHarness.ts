import { randomUUID } from "node:crypto";
import type { LocalAzure } from "../../local-azure";
import { ArmClient } from "../../local-azure/armClient";
import {
  type AuthzAction,
  type AuthzCase,
  type AuthzPrincipal,
  type AuthzScope,
  type Decision,
  decisionOf,
} from "./cases";

/**
 * Builds the authorization world of the matrix in a Local Azure (two resource groups, one managed
 * identity per principal row, each with its one role assignment) and exercises each row over ARM's
 * HTTPS API with a real token for that principal.
 */

const ROLE_IDS = {
  Reader: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
  Contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
} as const;

const RG_API = "2021-04-01";
const AUTHZ_API = "2022-04-01";
const IDENTITY_API = "2023-01-31";

export interface AuthzWorld {
  azure: LocalAzure;
  scopes: Record<AuthzScope, string>;
  clients: Record<AuthzPrincipal, ArmClient>;
  /** An identity no row is about: the principal of the role assignments the rows try to create. */
  bystanderPrincipalId: string;
}

const IDENTITY_ROWS: Array<{
  principal: AuthzPrincipal;
  grant?: { role: keyof typeof ROLE_IDS; at: "RG" | "sibling RG" | "subscription" };
}> = [
  { principal: "MI Reader at RG", grant: { role: "Reader", at: "RG" } },
  { principal: "MI Reader at sibling RG", grant: { role: "Reader", at: "sibling RG" } },
  { principal: "MI Reader at subscription", grant: { role: "Reader", at: "subscription" } },
  { principal: "MI Contributor at RG", grant: { role: "Contributor", at: "RG" } },
  { principal: "MI with nothing" },
];

function roleDefinitionId(azure: LocalAzure, role: keyof typeof ROLE_IDS): string {
  return `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS[role]}`;
}

async function ok<T extends { status: number; body: unknown }>(what: string, response: Promise<T>): Promise<T> {
  const answer = await response;
  if (answer.status >= 300) throw new Error(`${what}: ARM answered ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer;
}

/** Creates the groups, identities and assignments (as the deployer). Needs rbacDelaySeconds 0. */
export async function buildAuthzWorld(azure: LocalAzure): Promise<AuthzWorld> {
  const subscription = `/subscriptions/${azure.subscriptionId}`;
  const scopes: Record<AuthzScope, string> = {
    RG: `${subscription}/resourceGroups/rg-authz-target`,
    "sibling RG": `${subscription}/resourceGroups/rg-authz-sibling`,
  };
  for (const scope of Object.values(scopes)) {
    await ok(`create ${scope}`, azure.arm.request("PUT", `${scope}?api-version=${RG_API}`, { location: "eastus" }));
  }
  const createIdentity = async (name: string) => {
    const answer = await ok(
      `create identity ${name}`,
      azure.arm.request(
        "PUT",
        `${scopes.RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}?api-version=${IDENTITY_API}`,
        { location: "eastus" },
      ),
    );
    return (answer.body as { properties: { principalId: string } }).properties.principalId;
  };
  const resource = `${azure.armEndpoint}/`;
  const clientFor = (token: () => Promise<string>) => new ArmClient(azure.armEndpoint, azure.caCertPem, token);
  const clients = { "deployer (Owner at subscription)": clientFor(() => azure.deployerToken()) } as Record<
    AuthzPrincipal,
    ArmClient
  >;
  await Promise.all(
    IDENTITY_ROWS.map(async (row, index) => {
      const principalId = await createIdentity(`id-authz-${index}`);
      if (row.grant) {
        const scope = row.grant.at === "subscription" ? subscription : scopes[row.grant.at];
        await ok(
          `assign ${row.grant.role} to ${row.principal}`,
          azure.arm.request(
            "PUT",
            `${scope}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=${AUTHZ_API}`,
            {
              properties: {
                roleDefinitionId: roleDefinitionId(azure, row.grant.role),
                principalId,
                principalType: "ServicePrincipal",
              },
            },
          ),
        );
      }
      clients[row.principal] = clientFor(() => azure.issueToken({ principalId, resource }));
    }),
  );
  return { azure, scopes, clients, bystanderPrincipalId: await createIdentity("id-authz-bystander") };
}

/** The ARM request that performs `action` at `scope`. */
function requestFor(
  world: AuthzWorld,
  action: AuthzAction,
  scope: string,
): ["GET" | "PATCH" | "PUT", string, unknown?] {
  switch (action) {
    case "read RG":
      return ["GET", `${scope}?api-version=${RG_API}`];
    case "write tag on RG":
      return ["PATCH", `${scope}?api-version=${RG_API}`, { tags: { matrix: "write-probe" } }];
    case "read permissions":
      return ["GET", `${scope}/providers/Microsoft.Authorization/permissions?api-version=${AUTHZ_API}`];
    case "create role assignment":
      return [
        "PUT",
        `${scope}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=${AUTHZ_API}`,
        {
          properties: {
            roleDefinitionId: roleDefinitionId(world.azure, "Reader"),
            principalId: world.bystanderPrincipalId,
            principalType: "ServicePrincipal",
          },
        },
      ];
  }
}

/** Performs one row and reads ARM's answer as a decision (or as an unexpected answer). */
export async function runAuthzCase(world: AuthzWorld, row: AuthzCase): Promise<Decision | string> {
  const [method, path, body] = requestFor(world, row.action, world.scopes[row.scope]);
  const answer = await world.clients[row.principal].request(method, path, body);
  return decisionOf(answer.status, answer.body);
}
