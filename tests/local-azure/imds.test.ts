import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalAzure, type SeededVm, seedVm } from "../../local-azure/index";

/** A VM's IMDS: the header guard, selectors, the documented 400s, all-string JSON, live identities. */

let azure: LocalAzure;
let both: SeededVm;
let twoUsers: SeededVm;

beforeAll(async () => {
  azure = await LocalAzure.start({
    faults: { rbacDelaySeconds: 0, identityAttachDelaySeconds: 0, sshNotReadySeconds: 0, lroSeconds: 0 },
  });
  both = await seedVm(azure, { identity: "both", resourceGroup: "rg-imds", vmName: "vm-both" });
  twoUsers = await seedVm(azure, { identity: "user", resourceGroup: "rg-imds2", vmName: "vm-two" });
});
afterAll(() => azure.stop());

async function token(vm: SeededVm, query: string, headers: Record<string, string> = { Metadata: "true" }) {
  const resource = encodeURIComponent(`${azure.armEndpoint}/`);
  const response = await fetch(
    `${vm.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${resource}${query}`,
    { headers },
  );
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
const claims = (body: Record<string, unknown>) =>
  JSON.parse(Buffer.from(String(body.access_token).split(".")[1], "base64url").toString());

describe("IMDS identity endpoint", () => {
  it("requires Metadata: true", async () => {
    expect(await token(both, "", {})).toEqual({
      status: 400,
      // Learn's HTTP response reference names the error bad_request_102.
      body: { error: "bad_request_102", error_description: "Required metadata header not specified" },
    });
  });

  it("gives the system identity by default and each selector its identity, every primitive a string", async () => {
    const system = await token(both, "");
    expect(system.status).toBe(200);
    expect(claims(system.body).oid).toBe(both.systemIdentity?.principalId);
    for (const value of Object.values(system.body)) expect(typeof value).toBe("string");
    expect(system.body.token_type).toBe("Bearer");
    const user = both.userIdentity as NonNullable<SeededVm["userIdentity"]>;
    for (const query of [
      `&client_id=${user.clientId}`,
      `&object_id=${user.principalId}`,
      `&msi_res_id=${encodeURIComponent(user.id)}`,
    ]) {
      const answer = await token(both, query);
      expect([answer.status, claims(answer.body).oid, claims(answer.body).appid]).toEqual([
        200,
        user.principalId,
        user.clientId,
      ]);
      expect(claims(answer.body)).toMatchObject({
        aud: `${azure.armEndpoint}/`,
        tid: azure.tenantId,
        idtyp: "app",
        iss: `https://sts.windows.net/${azure.tenantId}/`,
      });
    }
  });

  it("answers Identity not found for a selector naming no identity of this VM", async () => {
    expect(await token(both, `&client_id=${twoUsers.userIdentity?.clientId}`)).toEqual({
      status: 400,
      body: { error: "invalid_request", error_description: "Identity not found" },
    });
  });

  it("refuses two selectors at once", async () => {
    expect((await token(both, `&client_id=a&object_id=b`)).status).toBe(400);
  });

  it("serves instance metadata", async () => {
    const response = await fetch(`${both.imdsEndpoint}/metadata/instance/compute?api-version=2021-02-01`, {
      headers: { Metadata: "true" },
    });
    expect(await response.json()).toMatchObject({
      subscriptionId: azure.subscriptionId,
      resourceGroupName: "rg-imds",
      name: "vm-both",
    });
  });

  it("reads identities live: detaching the identity takes its tokens away", async () => {
    const user = twoUsers.userIdentity as NonNullable<SeededVm["userIdentity"]>;
    expect((await token(twoUsers, `&client_id=${user.clientId}`)).status).toBe(200);
    const vm = (await azure.arm.request("GET", `${twoUsers.vmId}?api-version=2024-11-01`)).body as Record<
      string,
      unknown
    >;
    await azure.arm.putAndWait(`${twoUsers.vmId}?api-version=2024-11-01`, { ...vm, identity: { type: "None" } });
    expect(await token(twoUsers, `&client_id=${user.clientId}`)).toEqual({
      status: 400,
      body: { error: "invalid_request", error_description: "Identity not found" },
    });
  });

  it("answers an injected burst with its status, then recovers", async () => {
    azure.faults.imdsBurst = { status: 429, count: 2 };
    expect((await token(both, "")).status).toBe(429);
    expect((await token(both, "")).status).toBe(429);
    expect((await token(both, "")).status).toBe(200);
  });
});

describe("IMDS with several user-assigned identities", () => {
  it("refuses a token request without a selector, and serves each identity by its selector", async () => {
    const user = twoUsers.userIdentity as NonNullable<SeededVm["userIdentity"]>;
    const rg = twoUsers.resourceGroupId;
    const second = await azure.arm.putAndWait(
      `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/second?api-version=2023-01-31`,
      { location: azure.location },
    );
    const secondId = second.body as { id: string; properties: { clientId: string } };
    const vm = (await azure.arm.request("GET", `${twoUsers.vmId}?api-version=2024-11-01`)).body as Record<
      string,
      unknown
    >;
    await azure.arm.putAndWait(`${twoUsers.vmId}?api-version=2024-11-01`, {
      ...vm,
      identity: { type: "UserAssigned", userAssignedIdentities: { [user.id]: {}, [secondId.id]: {} } },
    });
    expect(await token(twoUsers, "")).toEqual({
      status: 400,
      body: {
        error: "invalid_request",
        error_description:
          "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
      },
    });
    const answer = await token(twoUsers, `&client_id=${secondId.properties.clientId}`);
    expect([answer.status, claims(answer.body).appid]).toEqual([200, secondId.properties.clientId]);
  });
});
