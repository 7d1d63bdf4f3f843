import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Entra } from "./entra";
import { cloudNow, type Faults, type Principal, type Store } from "./store";

/**
 * One VM's Instance Metadata Service: the identity token endpoint (selectors, the documented 400s,
 * every JSON primitive a string) and instance metadata. The VM's identities are read live from
 * ARM's store, so detaching an identity takes its tokens away at once.
 */

export interface ImdsContext {
  vmId: string;
  subscriptionId: string;
  location: string;
  store: Store;
  entra: Entra;
  faults: Faults;
}

type Answer = { status: number; body: Record<string, unknown>; principalId?: string; text?: string };

const imdsError = (status: number, error: string, description: string): Answer => ({
  status,
  body: { error, error_description: description },
});
const IDENTITY_NOT_FOUND = imdsError(400, "invalid_request", "Identity not found");

const BURST_BODIES: Record<number, [string, string]> = {
  404: ["not_found", "IMDS is being updated"],
  410: ["gone", "IMDS is being updated; retry"],
  429: ["too_many_requests", "Too many requests"],
  500: ["unknown_error", "An unexpected error occured while fetching the AAD Token."],
  503: ["service_unavailable", "The service is unavailable"],
};

/** The identities IMDS can issue tokens for on this VM, with when each became usable. */
function vmIdentities(
  ctx: ImdsContext,
): { system?: Principal; user: Principal[]; usableAt: Map<string, number> } | undefined {
  const vm = ctx.store.resource(ctx.vmId);
  if (!vm) return undefined;
  const identity = (vm.body.identity ?? {}) as {
    principalId?: string;
    userAssignedIdentities?: Record<string, { principalId: string }>;
  };
  const attached = ctx.store.attachedAt.get(ctx.vmId.toLowerCase()) ?? new Map<string, number>();
  const usableAt = new Map(
    [...attached].map(([principal, at]) => [principal, at + ctx.faults.identityAttachDelaySeconds * 1000]),
  );
  const system = identity.principalId ? ctx.store.principals.get(identity.principalId.toLowerCase()) : undefined;
  const user = Object.values(identity.userAssignedIdentities ?? {})
    .map((entry) => ctx.store.principals.get(entry.principalId.toLowerCase()))
    .filter((p): p is Principal => p !== undefined);
  return { system, user, usableAt };
}

async function tokenAnswer(ctx: ImdsContext, query: URLSearchParams): Promise<Answer> {
  if (!query.get("api-version"))
    return imdsError(400, "invalid_request", "Required query variable 'api-version' is missing");
  const resource = query.get("resource");
  if (!resource) return imdsError(400, "invalid_request", "Required query variable 'resource' is missing");
  const selectors = ["client_id", "object_id", "msi_res_id"].filter((name) => query.has(name));
  if (selectors.length > 1)
    return imdsError(400, "invalid_request", "Only one of client_id, object_id or msi_res_id may be specified");
  const burst = ctx.faults.imdsBurst;
  if (burst && burst.count > 0) {
    burst.count--;
    const [error, description] = BURST_BODIES[burst.status];
    return imdsError(burst.status, error, description);
  }
  const identities = vmIdentities(ctx);
  if (!identities) return IDENTITY_NOT_FOUND;
  const all = [...(identities.system ? [identities.system] : []), ...identities.user];
  let chosen: Principal | undefined;
  if (selectors.length === 0) {
    if (identities.system) chosen = identities.system;
    else if (identities.user.length > 1) {
      return imdsError(
        400,
        "invalid_request",
        "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
      );
    } else chosen = identities.user[0];
  } else {
    const value = String(query.get(selectors[0])).toLowerCase();
    chosen = identities.user.find((p) =>
      selectors[0] === "client_id"
        ? p.clientId.toLowerCase() === value
        : selectors[0] === "object_id"
          ? p.principalId.toLowerCase() === value
          : p.resourceId.toLowerCase() === value,
    );
  }
  if (!chosen || !all.includes(chosen)) return IDENTITY_NOT_FOUND;
  // Right after an identity is attached, IMDS does not know it yet.
  if ((identities.usableAt.get(chosen.principalId.toLowerCase()) ?? 0) > cloudNow(ctx.faults))
    return IDENTITY_NOT_FOUND;
  const issued = await ctx.entra.issue({
    principalId: chosen.principalId,
    clientId: chosen.clientId,
    resourceId: chosen.resourceId,
    resource,
  });
  return {
    status: 200,
    principalId: chosen.principalId,
    body: {
      access_token: issued.token,
      refresh_token: "",
      expires_in: String(issued.expiresOn - Math.floor(Date.now() / 1000)),
      expires_on: String(issued.expiresOn),
      not_before: String(issued.notBefore),
      resource,
      token_type: "Bearer",
      client_id: chosen.clientId,
    },
  };
}

/** The API versions IMDS supports (Learn, "Azure Instance Metadata Service", Versioning), newest first. */
export const IMDS_API_VERSIONS = [
  "2025-04-07",
  "2024-07-17",
  "2024-03-15",
  "2023-11-15",
  "2023-07-01",
  "2021-12-13",
  "2021-11-15",
  "2021-11-01",
  "2021-10-01",
  "2021-08-01",
  "2021-05-01",
  "2021-03-01",
  "2021-02-01",
  "2021-01-01",
  "2020-12-01",
  "2020-10-01",
  "2020-09-01",
  "2020-07-15",
  "2020-06-01",
  "2019-11-01",
  "2019-08-15",
  "2019-08-01",
  "2019-06-04",
  "2019-06-01",
  "2019-04-30",
  "2019-03-11",
  "2019-02-01",
  "2018-10-01",
  "2018-04-02",
  "2018-02-01",
  "2017-12-01",
  "2017-10-01",
  "2017-08-01",
  "2017-04-02",
  "2017-03-01",
];

/** IMDS's answer to an instance request without a supported api-version (Learn, same page, Versioning). */
const BAD_API_VERSION: Answer = {
  status: 400,
  body: {
    error:
      "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds",
    "newest-versions": IMDS_API_VERSIONS.slice(0, 3),
  },
};

/** Every JSON primitive in an IMDS answer is a string ("true", "30"), as the service sends them. */
function allStrings(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(allStrings);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, allStrings(inner)]));
  return value === null || value === undefined ? "" : String(value);
}

interface VmProperties {
  vmId?: string;
  hardwareProfile?: { vmSize?: string };
  osProfile?: {
    adminUsername?: string;
    computerName?: string;
    linuxConfiguration?: {
      disablePasswordAuthentication?: boolean;
      ssh?: { publicKeys?: Array<{ keyData?: string; path?: string }> };
    };
  };
  storageProfile?: {
    imageReference?: { id?: string; publisher?: string; offer?: string; sku?: string; version?: string };
    osDisk?: { name?: string; caching?: string; createOption?: string; diskSizeGB?: number };
  };
  securityProfile?: {
    uefiSettings?: { secureBootEnabled?: boolean; vTpmEnabled?: boolean };
    encryptionAtHost?: boolean;
    securityType?: string;
  };
  networkProfile?: { networkInterfaces?: Array<{ id?: string }> };
  userData?: string;
}

/**
 * The compute part of the instance document, with the fields of the REST spec's example
 * (azure-rest-api-specs specification/imds/data-plane/InstanceMetadataService/stable/2021-02-01/examples/GetInstanceMetadata.json).
 */
function computeDocument(ctx: ImdsContext): Record<string, unknown> | undefined {
  const vm = ctx.store.resource(ctx.vmId);
  if (!vm) return undefined;
  const properties = (vm.body.properties ?? {}) as VmProperties;
  const image = properties.storageProfile?.imageReference ?? {};
  const tags = Object.entries((vm.body.tags ?? {}) as Record<string, unknown>).map(([name, value]) => ({
    name,
    value: String(value),
  }));
  const linux = properties.osProfile?.linuxConfiguration;
  // Missing or inapplicable values are always included, as empty strings (Learn, same page, Data format).
  return allStrings({
    additionalCapabilities: { hibernationEnabled: "false" },
    azEnvironment: "AZUREPUBLICCLOUD",
    customData: "",
    evictionPolicy: "",
    extendedLocation: { type: "", name: "" },
    host: { id: "" },
    hostGroup: { id: "" },
    isHostCompatibilityLayerVm: "false",
    licenseType: "",
    location: vm.body.location ?? ctx.location,
    name: vm.body.name,
    offer: image.offer ?? "",
    osProfile: {
      adminUsername: properties.osProfile?.adminUsername ?? "",
      computerName: properties.osProfile?.computerName ?? vm.body.name,
      disablePasswordAuthentication: linux?.disablePasswordAuthentication ?? false,
    },
    osType: "Linux",
    physicalZone: "",
    placementGroupId: "",
    plan: { name: "", product: "", publisher: "" },
    platformFaultDomain: 0,
    platformSubFaultDomain: "",
    platformUpdateDomain: 0,
    priority: "Regular",
    provider: "Microsoft.Compute",
    publicKeys: (linux?.ssh?.publicKeys ?? []).map((key) => ({ keyData: key.keyData, path: key.path })),
    publisher: image.publisher ?? "",
    resourceGroupName: /\/resourceGroups\/([^/]+)/i.exec(vm.id)?.[1] ?? "",
    resourceId: vm.id,
    securityProfile: {
      secureBootEnabled: properties.securityProfile?.uefiSettings?.secureBootEnabled ?? false,
      virtualTpmEnabled: properties.securityProfile?.uefiSettings?.vTpmEnabled ?? false,
      encryptionAtHost: properties.securityProfile?.encryptionAtHost ?? false,
      securityType: properties.securityProfile?.securityType ?? "",
    },
    sku: image.sku ?? "",
    storageProfile: {
      dataDisks: [],
      imageReference: {
        id: image.id ?? "",
        offer: image.offer,
        publisher: image.publisher,
        sku: image.sku,
        version: image.version,
        communityGalleryImageId: "",
        sharedGalleryImageId: "",
        exactVersion: "",
      },
      osDisk: {
        caching: properties.storageProfile?.osDisk?.caching ?? "ReadWrite",
        createOption: properties.storageProfile?.osDisk?.createOption ?? "FromImage",
        diskSizeGB: properties.storageProfile?.osDisk?.diskSizeGB ?? 30,
        name: properties.storageProfile?.osDisk?.name ?? `${String(vm.body.name)}_OsDisk`,
        osType: "Linux",
      },
      resourceDisk: { size: 0 },
    },
    subscriptionId: ctx.subscriptionId,
    tags: tags.map((tag) => `${tag.name}:${tag.value}`).join(";"),
    tagsList: tags,
    userData: properties.userData ?? "",
    version: image.version ?? "",
    virtualMachineScaleSet: { id: "" },
    vmId: properties.vmId ?? "",
    vmScaleSetName: "",
    vmSize: properties.hardwareProfile?.vmSize ?? "",
    zone: "",
  }) as Record<string, unknown>;
}

/** The network part: the VM's NICs with their private and public IPv4 addresses and subnets. */
function networkDocument(ctx: ImdsContext): Record<string, unknown> | undefined {
  const vm = ctx.store.resource(ctx.vmId);
  if (!vm) return undefined;
  const nicIds = ((vm.body.properties ?? {}) as VmProperties).networkProfile?.networkInterfaces ?? [];
  const interfaces = nicIds.map(({ id }, index) => {
    const nic = id ? ctx.store.resource(id) : undefined;
    const configs =
      (
        nic?.body.properties as
          | {
              ipConfigurations?: Array<{
                properties?: {
                  privateIPAddress?: string;
                  subnet?: { id?: string };
                  publicIPAddress?: { id?: string };
                };
              }>;
              macAddress?: string;
            }
          | undefined
      )?.ipConfigurations ?? [];
    const addresses = configs.map((config) => {
      const subnet = config.properties?.subnet?.id ? ctx.store.resource(config.properties.subnet.id) : undefined;
      const prefix = String((subnet?.body.properties as { addressPrefix?: string } | undefined)?.addressPrefix ?? "");
      const [network, bits] = prefix.includes("/") ? prefix.split("/") : ["", ""];
      const pip = config.properties?.publicIPAddress?.id
        ? ctx.store.resource(config.properties.publicIPAddress.id)
        : undefined;
      // Azure gives the first VM of a subnet its fifth address (.4): the first four are reserved.
      const firstHost = network ? network.replace(/\.\d+$/, ".4") : "";
      return {
        ip: {
          privateIpAddress: config.properties?.privateIPAddress ?? firstHost,
          publicIpAddress: (pip?.body.properties as { ipAddress?: string } | undefined)?.ipAddress ?? "",
        },
        subnet: { address: network, prefix: bits },
      };
    });
    const mac = ((nic?.body.properties as { macAddress?: string } | undefined)?.macAddress ?? "")
      .replace(/-/g, "")
      .toUpperCase();
    return {
      ipv4: { ipAddress: addresses.map((a) => a.ip), subnet: addresses.map((a) => a.subnet) },
      ipv6: { ipAddress: [] },
      macAddress: mac || `00224800${String(index).padStart(4, "0")}`,
    };
  });
  return allStrings({ interface: interfaces }) as Record<string, unknown>;
}

/**
 * `/metadata/instance[/key/…]`: the document, or the part the route parameters walk to (keys and array
 * indexes, Learn "Route parameters"); a leaf needs `format=text` and comes back as plain text.
 */
function instanceAnswer(ctx: ImdsContext, keys: string[], query: URLSearchParams): Answer {
  if (!IMDS_API_VERSIONS.includes(query.get("api-version") ?? "")) return BAD_API_VERSION;
  const compute = computeDocument(ctx);
  const network = networkDocument(ctx);
  if (!compute || !network) return imdsError(404, "not_found", "The VM is gone");
  let node: unknown = { compute, network };
  for (const key of keys) {
    const next =
      Array.isArray(node) && /^\d+$/.test(key)
        ? node[Number(key)]
        : node !== null && typeof node === "object" && !Array.isArray(node) && Object.hasOwn(node, key)
          ? (node as Record<string, unknown>)[key]
          : undefined;
    if (next === undefined) return imdsError(404, "not_found", "The requested element doesn't exist");
    node = next;
  }
  if (typeof node === "string") {
    return query.get("format") === "text"
      ? { status: 200, body: {}, text: node }
      : imdsError(400, "bad_request", "Querying a leaf node requires the parameter format=text");
  }
  return { status: 200, body: node as Record<string, unknown> };
}

async function answer(ctx: ImdsContext, req: IncomingMessage): Promise<Answer> {
  // SSRF guards of the real service (Learn, "Azure Instance Metadata Service", Security and authentication).
  // The documented answer (Learn, "How to use managed identities … to acquire an access token", HTTP response reference).
  if (req.headers.metadata !== "true")
    return imdsError(400, "bad_request_102", "Required metadata header not specified");
  if (req.headers["x-forwarded-for"] !== undefined)
    return imdsError(400, "bad_request", "Requests with X-Forwarded-For are rejected");
  const url = new URL(String(req.url), "http://imds");
  if (req.method !== "GET") return imdsError(405, "bad_request", "Only GET is supported");
  // MSAL asks for /metadata/identity/oauth2/token/ (its URL normalisation adds the slash); IMDS serves both.
  const path = url.pathname.replace(/\/+$/, "");
  if (path === "/metadata/identity/oauth2/token") return tokenAnswer(ctx, url.searchParams);
  if (path === "/metadata/instance" || path.startsWith("/metadata/instance/")) {
    const keys = path.slice("/metadata/instance".length).split("/").filter(Boolean).map(decodeURIComponent);
    return instanceAnswer(ctx, keys, url.searchParams);
  }
  return imdsError(404, "not_found", "Unknown path");
}

/**
 * Starts the VM's IMDS on its own loopback address; resolves to its base URL. `port` 0 picks a free
 * one (a kept Local Azure passes the VM's old port).
 */
export async function startImds(
  ctx: ImdsContext,
  host: string,
  port = 0,
): Promise<{ endpoint: string; server: Server }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    answer(ctx, req)
      .catch((error: Error): Answer => imdsError(500, "unknown_error", error.message))
      .then((result) => {
        ctx.store.requestLog.push({
          at: Date.now(),
          service: "imds",
          method: String(req.method),
          path: String(req.url).split("?")[0],
          status: result.status,
          principalId: result.principalId ?? null,
        });
        if (result.text !== undefined) {
          res.writeHead(result.status, { "content-type": "text/plain; charset=utf-8" }).end(result.text);
          return;
        }
        res
          .writeHead(result.status, { "content-type": "application/json; charset=utf-8" })
          .end(JSON.stringify(result.body));
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return { endpoint: `http://${host}:${(server.address() as AddressInfo).port}`, server };
}
