import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { Server as HttpServer } from "node:http";
import { createServer as createHttpsServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ArmService, armRequestHandler } from "./arm";
import { ArmClient } from "./armClient";
import { armAudiences, graphAudiences } from "./audiences";
import { createTlsMaterial } from "./ca";
import { Entra, type EntraKeys } from "./entra";
import { ClientSecretTokenSource } from "./entraClient";
import { startEntraServer } from "./entraHttp";
import { startGraphServer } from "./graph/http";
import { GraphService } from "./graph/service";
import type { LinuxGuest } from "./linuxGuest/machine";
import { type CloudIdentity, readCloud, restoreStore, snapshotStore, writeCloud } from "./persist";
import { faultsFrom, freePort, realGuestHost, seedDeployer, stillValid, watchedFaults } from "./startup";
import { type Faults, type RequestLogEntry, Store } from "./store";
import { generatePrivateKey } from "./tlsKeys";
import { VirtualMachines } from "./vm/virtualMachines";

export { ArmClient, ArmError, type ArmResponse } from "./armClient";
export type { Faults, RequestLogEntry } from "./store";
export { DEFAULT_FAULTS } from "./store";

/**
 * Local Azure: ARM (HTTPS, RBAC on every request), Entra tokens, one IMDS and one SSH guest per VM,
 * in this process, on loopback only. `npm run local`, the probe tests, the e2e suite and the
 * benchmark all run against it.
 */

export interface LocalAzureOptions {
  faults?: Partial<Faults>;
  /** Where ca.pem and the VMs' home folders go; default a fresh temporary folder, removed on stop(). */
  dataDir?: string;
  /** The port every portable guest's SSH server listens on (each on its VM's own address); default a free port. */
  sshPort?: number;
  /**
   * What a VM's guest is: "portable" (default), an SSH server in this process (any OS, no root), or
   * "linux", a booted Debian with systemd, cloud-init and OpenSSH per VM (linuxGuest/; needs Linux,
   * root and `npm run guest:build`), with SSH on port 22 of its public IP and Azure's own IMDS and
   * ARM addresses inside.
   */
  guests?: GuestKind;
  /**
   * With real guests: host folders every guest sees read-only at the same path, as a tool of the
   * host's (the Azure CLI tier's venv and the Python it runs on) used inside the VMs without
   * installing it in the image. None by default.
   */
  linuxGuestBinds?: readonly string[];
  subscriptionId?: string;
  tenantId?: string;
  location?: string;
  /**
   * Keep the cloud between runs in this folder (also the dataDir): what an earlier Local Azure saved
   * there is loaded, on the same ports, CA, keys and VM addresses, every VM's IMDS and guest restarted;
   * the store is saved after every change and on stop. Unset: a fresh cloud, gone on stop().
   */
  persistDir?: string;
  /**
   * Told of every request each server (ARM, Entra, Graph, every IMDS) answered, once answered: method, path
   * with query, status. Never a header or a body, so never a token or a secret.
   */
  onRequest?: (entry: ServedRequest) => void;
  /** Told after a VM's IMDS and guest started, changed or stopped (vmIds() then lists the VMs). */
  onVmsChanged?: () => void;
}

/** One answered request, as LocalAzureOptions.onRequest is told of it. */
export interface ServedRequest {
  service: "arm" | "entra" | "graph" | "imds";
  method: string;
  /** Path and query as the client sent them. */
  url: string;
  status: number;
}

/** Tells `onRequest` of each request `server` answers. */
function reportRequests(
  server: Server | HttpServer,
  service: ServedRequest["service"],
  onRequest: ((entry: ServedRequest) => void) | undefined,
): void {
  if (!onRequest) return;
  server.on("request", (req, res) =>
    res.on("finish", () =>
      onRequest({ service, method: req.method ?? "", url: req.url ?? "", status: res.statusCode }),
    ),
  );
}

export type GuestKind = "portable" | "linux";

export class LocalAzure {
  readonly faults: Faults;
  readonly arm: ArmClient;
  private stopped = false;
  /** Set when the cloud is kept (options.persistDir): what it is saved with besides the store. */
  private kept: { dir: string; identity: Omit<CloudIdentity, "vms" | "nextImdsHost"> } | null = null;

  private constructor(
    readonly armEndpoint: string,
    readonly caCertPath: string,
    readonly caCertPem: string,
    readonly subscriptionId: string,
    readonly tenantId: string,
    readonly location: string,
    readonly sshPort: number,
    /** The deployer service principal (Owner on the subscription) and the client secret it signs in with. */
    readonly deployer: { principalId: string; clientId: string; clientSecret: string },
    /** Entra's sign-in endpoints (HTTPS, Local Azure's CA): `{authorityHost}/{tenantId}/oauth2/v2.0/token`. */
    readonly authorityHost: string,
    /** Microsoft Graph's base URL (HTTPS, Local Azure's CA): `{graphEndpoint}/v1.0/servicePrincipals`. */
    readonly graphEndpoint: string,
    faults: Faults,
    private readonly store: Store,
    private readonly entra: Entra,
    private readonly server: Server,
    private readonly entraServer: Server,
    private readonly graphServer: Server,
    private readonly dataDir: string,
    private readonly ownsDataDir: boolean,
    /** The VMs: each one's IMDS, guest, power state, and the commands run inside them (vm/). */
    private readonly vms: VirtualMachines,
    /** ARM: its pending deletes end on timers of their own, cleared when Local Azure stops. */
    private readonly armService: ArmService,
  ) {
    this.faults = faults;
    this.deployerSignIn = new ClientSecretTokenSource({
      authorityHost,
      tenantId,
      clientId: deployer.clientId,
      clientSecret: deployer.clientSecret,
      scope: `${armEndpoint}/.default`,
      caPem: caCertPem,
    });
    this.arm = new ArmClient(armEndpoint, caCertPem, () => this.deployerToken());
  }

  private readonly deployerSignIn: ClientSecretTokenSource;

  static async start(options: LocalAzureOptions = {}): Promise<LocalAzure> {
    // ARM's pending deletes end when the faults say (lroSeconds): told of each change once ARM runs.
    let faultsChanged: () => void = () => undefined;
    const faults = watchedFaults(faultsFrom(options.faults), () => faultsChanged());
    const linux = options.guests === "linux" ? await realGuestHost() : null;
    const saved = options.persistDir ? readCloud(options.persistDir)?.identity : undefined;
    const subscriptionId = saved?.subscriptionId ?? options.subscriptionId ?? "6e1a5a64-0d3c-4b52-9d8f-0c0f4e0a0001";
    const tenantId = saved?.tenantId ?? options.tenantId ?? "72f988bf-0000-4000-8000-00000000ab1e";
    const location = saved?.location ?? options.location ?? "eastus";
    const ownsDataDir = options.dataDir === undefined && options.persistDir === undefined;
    const dataDir = options.persistDir ?? options.dataDir ?? mkdtempSync(join(tmpdir(), "local-azure-"));
    mkdirSync(dataDir, { recursive: true });
    const [tls, entra, portableSshPort] = await Promise.all([
      saved && stillValid(saved.tls) ? saved.tls : createTlsMaterial(),
      Entra.create(tenantId, saved?.entraKeys as EntraKeys | undefined),
      saved?.sshPort ?? options.sshPort ?? freePort(),
    ]);
    // Real guests have SSH where Azure's VMs have it; a kept cloud keeps the portable port for portable runs.
    const sshPort = linux ? 22 : portableSshPort;
    const caCertPath = join(dataDir, "ca.pem");
    writeFileSync(caCertPath, tls.caCertPem);

    const store = new Store();
    const deployer = seedDeployer(store, entra, subscriptionId, saved?.deployer.clientSecret);

    let azure: LocalAzure | undefined;
    const server = createHttpsServer({ cert: tls.serverCertPem, key: tls.serverKeyPem });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(saved?.armPort ?? 0, "127.0.0.1", () => resolve());
    });
    const armEndpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Graph on its own port: its URL is its audience, apart from ARM's.
    let graphEndpoint = "";
    const graph = await startGraphServer(
      new GraphService({
        endpoint: () => graphEndpoint,
        tenantId,
        deployerPrincipalId: deployer.principalId,
        store,
        entra,
        faults,
      }),
      store,
      { cert: tls.serverCertPem, key: tls.serverKeyPem },
      saved?.graphPort ?? 0,
    );
    graphEndpoint = graph.endpoint;
    // Entra on its own port: it issues tokens for every audience ARM and Graph accept (their URLs and the public cloud's).
    const { authorityHost, server: entraServer } = await startEntraServer(
      { entra, resources: () => [...armAudiences(armEndpoint), ...graphAudiences(graphEndpoint)] },
      { cert: tls.serverCertPem, key: tls.serverKeyPem },
      saved?.entraPort ?? 0,
    );
    // The VMs' model: what ARM asks of a VM (vm/model.ts); their runtimes are its own.
    const vms = new VirtualMachines({
      subscriptionId,
      location,
      store,
      entra,
      faults,
      guests: linux
        ? {
            kind: "linux",
            ...linux,
            binds: options.linuxGuestBinds ?? [],
            arm: { host: new URL(armEndpoint).hostname, port: Number(new URL(armEndpoint).port) },
            caCertPem: tls.caCertPem,
          }
        : { kind: "portable", dataDir, sshPort },
      caCertPath,
      onImds: (imds) => reportRequests(imds, "imds", options.onRequest),
      onVmsChanged: () => options.onVmsChanged?.(),
      onStateChanged: () => azure?.save(),
    });
    const service = new ArmService({
      endpoint: armEndpoint,
      authorityHost,
      graphEndpoint,
      subscriptionId,
      tenantId,
      location,
      deployerPrincipalId: deployer.principalId,
      faults,
      store,
      entra,
      vms,
      onStoreChanged: () => azure?.save(),
    });
    faultsChanged = () => service.faultsChanged();
    const handle = armRequestHandler(service, store);
    reportRequests(server, "arm", options.onRequest);
    reportRequests(entraServer, "entra", options.onRequest);
    reportRequests(graph.server, "graph", options.onRequest);
    server.on("request", (req, res) => {
      // A kept cloud is saved once each change is answered.
      if (options.persistDir && req.method !== "GET" && req.method !== "HEAD") {
        res.on("finish", () => (azure as LocalAzure).save());
      }
      handle(req, res);
    });
    azure = new LocalAzure(
      armEndpoint,
      caCertPath,
      tls.caCertPem,
      subscriptionId,
      tenantId,
      location,
      sshPort,
      deployer,
      authorityHost,
      graphEndpoint,
      faults,
      store,
      entra,
      server,
      entraServer,
      graph.server,
      dataDir,
      ownsDataDir,
      vms,
      service,
    );
    if (options.persistDir) {
      const persisted = readCloud(options.persistDir);
      if (persisted) restoreStore(store, persisted.store);
      azure.kept = {
        dir: options.persistDir,
        identity: {
          armPort: Number(new URL(armEndpoint).port),
          entraPort: Number(new URL(authorityHost).port),
          graphPort: Number(new URL(graphEndpoint).port),
          sshPort: portableSshPort,
          subscriptionId,
          tenantId,
          location,
          tls,
          entraKeys: await entra.exportKeys(),
          deployer,
        },
      };
      // The VMs "reboot": each gets its IMDS back on its old address, and its guest.
      await azure.vms.restore(persisted?.identity);
      // Deletes that ran when it stopped end when their operations would have (at once if that passed).
      service.resumeDeletions();
      azure.save();
    }
    return azure;
  }

  /** Writes the kept cloud (no-op unless persistDir was given). */
  save(): void {
    if (!this.kept || this.stopped) return;
    writeCloud(this.kept.dir, {
      version: 1,
      savedAt: new Date().toISOString(),
      identity: { ...this.kept.identity, ...this.vms.persisted() },
      store: snapshotStore(this.store),
    });
  }

  /** Every ARM and IMDS request so far (never a token): for probe-cost counts and tests. */
  get requestLog(): ReadonlyArray<RequestLogEntry> {
    return this.store.requestLog;
  }

  /**
   * A valid ARM token for the deployer, signed in with its client secret at Entra's token endpoint
   * over HTTPS (as any client would), cached until shortly before it expires.
   */
  deployerToken(): Promise<string> {
    return this.deployerSignIn.token();
  }

  /** A token for tests: forged (`foreign` key), expired (old issuedAt) or for another audience. */
  async issueToken(opts: {
    principalId: string;
    resource: string;
    issuedAt?: number;
    lifetimeSeconds?: number;
    signWith?: "trusted" | "foreign";
    issuer?: string;
  }): Promise<string> {
    const principal = this.store.principals.get(opts.principalId.toLowerCase());
    const { token } = await this.entra.issue({
      principalId: opts.principalId,
      clientId: principal?.clientId ?? opts.principalId,
      resourceId: principal?.resourceId ?? "",
      resource: opts.resource,
      issuedAt: opts.issuedAt,
      lifetimeSeconds: opts.lifetimeSeconds,
      signWith: opts.signWith,
      issuer: opts.issuer,
    });
    return token;
  }

  /** The ARM IDs of the VMs running now (each with its IMDS), in the order they were created. */
  vmIds(): string[] {
    return this.vms.ids();
  }

  /** A VM's IMDS endpoint and public IP (null without one), while it exists. */
  vmRuntime(vmResourceId: string): { imdsEndpoint: string; publicIp: string | null } | undefined {
    const vm = this.vms.get(vmResourceId);
    return vm && { imdsEndpoint: vm.imds.endpoint, publicIp: vm.publicIp };
  }

  /** A VM's real guest (guests "linux"), while it runs one. */
  linuxGuest(vmResourceId: string): LinuxGuest | undefined {
    return this.vms.get(vmResourceId)?.linuxGuest ?? undefined;
  }

  /** Closes every server and guest, so the process can exit. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.save();
    this.stopped = true;
    await this.armService.stop();
    await this.vms.stop();
    this.server.closeAllConnections();
    this.entraServer.closeAllConnections();
    this.graphServer.closeAllConnections();
    await Promise.all(
      [this.server, this.entraServer, this.graphServer].map(
        (server) => new Promise<void>((resolve) => server.close(() => resolve())),
      ),
    );
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export interface SeededVm {
  resourceGroupId: string;
  resourceGroup: string;
  vmId: string;
  imdsEndpoint: string;
  publicIp: string;
  userIdentity?: { id: string; clientId: string; principalId: string; tenantId: string };
  systemIdentity?: { principalId: string; tenantId: string };
}

/**
 * Creates through ARM, as the deployer: a resource group, a user-assigned identity (user/both), a VM
 * with its network and identities, and Reader at the resource group for each identity (unless grant
 * is false). What a probe run needs.
 */
export async function seedVm(
  azure: LocalAzure,
  opts: {
    identity: "user" | "system" | "both";
    grant?: boolean;
    resourceGroup?: string;
    vmName?: string;
    adminUsername?: string;
    sshPublicKey?: string;
    customData?: string;
    /** false: the NIC gets no public IP (a private VM: no SSH relay; Run Command still reaches it). Default true. */
    publicIp?: boolean;
  },
): Promise<SeededVm> {
  const rgName = opts.resourceGroup ?? "seed-rg";
  const vmName = opts.vmName ?? "seed-vm";
  const sub = `/subscriptions/${azure.subscriptionId}`;
  const rg = `${sub}/resourceGroups/${rgName}`;
  const api = (path: string, version: string) => `${path}?api-version=${version}`;
  const location = azure.location;
  await azure.arm.putAndWait(api(rg, "2024-03-01"), { location });
  const net = `${rg}/providers/Microsoft.Network`;
  await azure.arm.putAndWait(api(`${net}/virtualNetworks/${vmName}-vnet`, "2024-05-01"), {
    location,
    properties: { addressSpace: { addressPrefixes: ["10.0.0.0/16"] } },
  });
  const subnet = await azure.arm.putAndWait(
    api(`${net}/virtualNetworks/${vmName}-vnet/subnets/default`, "2024-05-01"),
    { properties: { addressPrefix: "10.0.1.0/24" } },
  );
  const pip =
    opts.publicIp === false
      ? undefined
      : await azure.arm.putAndWait(api(`${net}/publicIPAddresses/${vmName}-ip`, "2024-05-01"), {
          location,
          sku: { name: "Standard" },
          properties: { publicIPAllocationMethod: "Static" },
        });
  const nic = await azure.arm.putAndWait(api(`${net}/networkInterfaces/${vmName}-nic`, "2024-05-01"), {
    location,
    properties: {
      ipConfigurations: [
        {
          name: "primary",
          properties: {
            subnet: { id: (subnet.body as { id: string }).id },
            ...(pip ? { publicIPAddress: { id: (pip.body as { id: string }).id } } : {}),
          },
        },
      ],
    },
  });
  let userIdentity: SeededVm["userIdentity"];
  if (opts.identity !== "system") {
    const uami = await azure.arm.putAndWait(
      api(`${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${vmName}-id`, "2023-01-31"),
      { location },
    );
    const body = uami.body as { id: string; properties: { clientId: string; principalId: string; tenantId: string } };
    userIdentity = { id: body.id, ...body.properties };
  }
  const identityType = { user: "UserAssigned", system: "SystemAssigned", both: "SystemAssigned, UserAssigned" }[
    opts.identity
  ];
  const sshKey = opts.sshPublicKey ?? generatePrivateKey("ED25519").publicKeyOpenssh.trim();
  const adminUsername = opts.adminUsername ?? "azureuser";
  const vm = await azure.arm.putAndWait(
    api(`${rg}/providers/Microsoft.Compute/virtualMachines/${vmName}`, "2024-11-01"),
    {
      location,
      identity: { type: identityType, ...(userIdentity ? { userAssignedIdentities: { [userIdentity.id]: {} } } : {}) },
      properties: {
        hardwareProfile: { vmSize: "Standard_B2s" },
        osProfile: {
          computerName: vmName,
          adminUsername,
          ...(opts.customData ? { customData: opts.customData } : {}),
          linuxConfiguration: {
            disablePasswordAuthentication: true,
            ssh: { publicKeys: [{ path: `/home/${adminUsername}/.ssh/authorized_keys`, keyData: sshKey }] },
          },
        },
        networkProfile: { networkInterfaces: [{ id: (nic.body as { id: string }).id, properties: { primary: true } }] },
      },
    },
  );
  const vmBody = vm.body as { id: string; identity?: { principalId?: string; tenantId?: string } };
  const systemIdentity = vmBody.identity?.principalId
    ? { principalId: vmBody.identity.principalId, tenantId: String(vmBody.identity.tenantId) }
    : undefined;
  if (opts.grant !== false) {
    const reader = `${sub}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`;
    for (const principalId of [userIdentity?.principalId, systemIdentity?.principalId].filter(
      (p): p is string => p !== undefined,
    )) {
      await azure.arm.putAndWait(
        api(`${rg}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}`, "2022-04-01"),
        {
          properties: { roleDefinitionId: reader, principalId, principalType: "ServicePrincipal" },
        },
      );
    }
  }
  const runtime = azure.vmRuntime(vmBody.id);
  return {
    resourceGroupId: rg,
    resourceGroup: rgName,
    vmId: vmBody.id,
    imdsEndpoint: runtime?.imdsEndpoint ?? "",
    publicIp: runtime?.publicIp ?? "",
    userIdentity,
    systemIdentity,
  };
}
