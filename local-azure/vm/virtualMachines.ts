import type { Entra } from "../entra";
import { startImds } from "../imds";
import type { VmRequest } from "../linuxGuest/seed";
import { nsgAdmits } from "../nsg";
import type { Faults, Store } from "../store";
import type { GuestMachine } from "./guestMachine";
import type { ActionRequest, OperationOutcome, PowerAction, PowerState, VirtualMachineModel } from "./model";
import { RunCommands } from "./runCommands";
import { type GuestSettings, VirtualMachine, type VmConfig, type VmImds } from "./virtualMachine";

/**
 * Local Azure's VMs: one VirtualMachine per ARM VM (its IMDS on an address of its own, its guest, its
 * power state) and the commands run inside them. ARM reaches them only through VirtualMachineModel.
 */

/** What a kept cloud saves of a VM to bring it back as it was. */
export interface PersistedVm {
  /** The VM's ARM ID. */
  id: string;
  imdsHost: string;
  imdsPort: number;
  /** Absent in clouds kept before VMs could be stopped: running. */
  powerState?: PowerState;
}

export interface VirtualMachinesOptions {
  subscriptionId: string;
  location: string;
  store: Store;
  entra: Entra;
  faults: Faults;
  guests: GuestSettings;
  caCertPath: string;
  /** Told of each IMDS server, to report what it answers. */
  onImds: (server: VmImds["server"]) => void;
  /** Told after a VM's IMDS and guest started, changed or stopped (ids() then lists the VMs). */
  onVmsChanged: () => void;
  /** Told after anything worth keeping changed outside an ARM request (a run command's execution). */
  onStateChanged: () => void;
  /** Where a failure nobody waits for is told. Defaults to a line on stderr. */
  report?: (error: Error) => void;
}

export class VirtualMachines implements VirtualMachineModel {
  private readonly vms = new Map<string, VirtualMachine>();
  /**
   * A VM whose runtime is being made (its IMDS, then its guest): one at a time per VM, so two changes
   * told at once make one runtime.
   */
  private readonly making = new Map<string, Promise<VirtualMachine>>();
  /**
   * A deleted VM whose guest and IMDS are being torn down: a VM created again under the same ID (the
   * engine's delete-before-replace) starts once they are gone, never beside them (a real guest's
   * address and nftables table would be taken twice).
   */
  private readonly tearingDown = new Map<string, Promise<void>>();
  private readonly starts = new Map<string, Array<{ resolve: () => void; reject: (error: Error) => void }>>();
  private nextImdsHost = 2;
  private stopped = false;
  readonly runCommands: RunCommands;

  constructor(private readonly opts: VirtualMachinesOptions) {
    this.runCommands = new RunCommands(
      opts.store,
      {
        whenReady: (vmId) => this.whenReady(vmId),
        untilRunning: (vmId) => this.untilRunning(vmId),
        runs: (vmId) => ["running", "starting"].includes(this.powerState(vmId) ?? ""),
        exists: (vmId) => this.vms.has(vmId.toLowerCase()),
        guest: (vmId) => this.get(vmId)?.guest ?? null,
      },
      opts.onStateChanged,
    );
  }

  private report(error: Error): void {
    (this.opts.report ?? ((e: Error) => process.stderr.write(`local-azure: ${e.message}\n`)))(error);
  }

  /** The ARM IDs of the VMs that run now (each with its IMDS), in the order they were created. */
  ids(): string[] {
    return [...this.vms.keys()].map((key) => this.opts.store.resource(key)?.id ?? key);
  }

  get(vmId: string): VirtualMachine | undefined {
    return this.vms.get(vmId.toLowerCase());
  }

  /** What a kept cloud saves of each VM: its IMDS address and its power state. */
  persisted(): { vms: PersistedVm[]; nextImdsHost: number } {
    return {
      vms: [...this.vms.entries()].map(([key, vm]) => ({
        id: this.opts.store.resource(key)?.id ?? key,
        imdsHost: vm.imds.host,
        imdsPort: vm.imds.port,
        powerState: vm.power,
      })),
      nextImdsHost: this.nextImdsHost,
    };
  }

  /** A kept cloud comes back: each VM "reboots" on its old IMDS address, in its old power state. */
  async restore(saved: { vms: PersistedVm[]; nextImdsHost: number } | undefined): Promise<void> {
    this.nextImdsHost = saved?.nextImdsHost ?? this.nextImdsHost;
    for (const vm of saved?.vms ?? []) {
      if (this.opts.store.resource(vm.id)) await this.start(vm.id, vm);
    }
    this.runCommands.resume();
  }

  async changed(vmId: string): Promise<void> {
    // A VM ARM no longer holds has no runtime to make (a change told after its deletion began).
    if (this.stopped || !this.opts.store.resource(vmId)) return;
    await this.start(vmId);
    this.opts.onVmsChanged();
  }

  async deleted(vmId: string): Promise<void> {
    const key = vmId.toLowerCase();
    // A runtime still being made is finished first, so that nothing of it outlives the deletion.
    await this.making.get(key)?.catch(() => undefined);
    const vm = this.vms.get(key);
    if (!vm) return this.tearingDown.get(key);
    this.vms.delete(key);
    for (const waiter of this.starts.get(key) ?? []) waiter.reject(new Error(`${vmId} was deleted`));
    this.starts.delete(key);
    const teardown = (async () => {
      await this.runCommands.vmDeleted(vmId);
      await vm.delete();
    })();
    this.tearingDown.set(key, teardown);
    try {
      await teardown;
    } finally {
      if (this.tearingDown.get(key) === teardown) this.tearingDown.delete(key);
    }
    if (!this.stopped) this.opts.onVmsChanged();
  }

  powerState(vmId: string): PowerState | undefined {
    return this.get(vmId)?.power;
  }

  async power(vmId: string, action: PowerAction): Promise<OperationOutcome> {
    const vm = this.get(vmId);
    if (!vm) return {};
    if (action === "powerOff" || action === "deallocate") await vm.powerOff(action === "deallocate");
    else if (action === "restart") await vm.restart();
    else await vm.start();
    if (vm.power === "running") this.started(vmId);
    return {};
  }

  runCommand(id: string): Promise<OperationOutcome> {
    return this.runCommands.run(id);
  }

  runCommandOutcome(id: string): Promise<OperationOutcome> {
    return this.runCommands.outcome(id);
  }

  cancelRunCommand(id: string): Promise<void> {
    return this.runCommands.cancel(id);
  }

  invokeAction(vmId: string, request: ActionRequest): Promise<OperationOutcome> | null {
    return this.runCommands.invokeAction(vmId, request);
  }

  /** Stops every VM (Local Azure stops): their commands, guests and IMDS servers, those being torn down too. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...new Set([...this.vms.keys(), ...this.making.keys()])].map((key) => this.deleted(key)));
    await Promise.all([...this.tearingDown.values()].map((teardown) => teardown.catch(() => undefined)));
  }

  private whenReady(vmId: string): Promise<GuestMachine> {
    const vm = this.get(vmId);
    return vm ? vm.whenReady() : Promise.reject(new Error(`${vmId} does not exist`));
  }

  private untilRunning(vmId: string): Promise<void> {
    const key = vmId.toLowerCase();
    const vm = this.vms.get(key);
    if (!vm) return Promise.reject(new Error(`${vmId} does not exist`));
    if (vm.power === "running") return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.starts.set(key, [...(this.starts.get(key) ?? []), { resolve, reject }]);
    });
  }

  private started(vmId: string): void {
    const key = vmId.toLowerCase();
    for (const waiter of this.starts.get(key) ?? []) waiter.resolve();
    this.starts.delete(key);
  }

  /** Makes the VM's runtime (its IMDS, then its guest) and applies ARM's configuration to it. */
  private async start(vmId: string, restored?: PersistedVm): Promise<void> {
    const vm = await this.runtime(vmId, restored);
    await vm.apply(this.configOf(vmId));
  }

  /** The VM's runtime, made once (after an earlier one under its ID is torn down). */
  private runtime(vmId: string, restored?: PersistedVm): Promise<VirtualMachine> {
    const key = vmId.toLowerCase();
    const existing = this.vms.get(key);
    if (existing) return Promise.resolve(existing);
    const pending = this.making.get(key);
    if (pending) return pending;
    const made = this.makeRuntime(vmId, restored).finally(() => this.making.delete(key));
    this.making.set(key, made);
    return made;
  }

  private async makeRuntime(vmId: string, restored?: PersistedVm): Promise<VirtualMachine> {
    const key = vmId.toLowerCase();
    await this.tearingDown.get(key)?.catch(() => undefined);
    const n = restored ? 0 : this.nextImdsHost++;
    const host = restored?.imdsHost ?? `127.78.${Math.floor(n / 250)}.${(n % 250) + 2}`;
    const { store, entra, faults, subscriptionId, location } = this.opts;
    const imds = await startImds(
      { vmId, subscriptionId, location, store, entra, faults },
      host,
      restored?.imdsPort ?? 0,
    );
    this.opts.onImds(imds.server);
    const vm = new VirtualMachine(
      vmId,
      { endpoint: imds.endpoint, server: imds.server, host, port: Number(new URL(imds.endpoint).port) },
      {
        guests: this.opts.guests,
        caCertPath: this.opts.caCertPath,
        notReadyForSeconds: () => faults.sshNotReadySeconds,
        shellEnvironment: (): Record<string, string> => (faults.clock ? { BASH_ENV: faults.clock.bashEnv } : {}),
        report: (error) => this.report(error),
      },
      restored?.powerState,
    );
    this.vms.set(key, vm);
    return vm;
  }

  /** What ARM holds for the VM, as its guest is made from it. */
  private configOf(vmId: string): VmConfig {
    const store = this.opts.store;
    const body = store.resource(vmId)?.body ?? {};
    const properties = (body.properties ?? {}) as {
      networkProfile?: { networkInterfaces?: Array<{ id?: string }> };
    };
    const nicId = properties.networkProfile?.networkInterfaces?.[0]?.id;
    const nic = () =>
      (nicId ? store.resource(nicId)?.body.properties : undefined) as
        | {
            networkSecurityGroup?: { id?: string };
            ipConfigurations?: Array<{ properties?: { publicIPAddress?: { id?: string } } }>;
          }
        | undefined;
    const pipId = nic()?.ipConfigurations?.[0]?.properties?.publicIPAddress?.id;
    const pip = pipId ? store.resource(pipId) : undefined;
    const publicIp = (pip?.body.properties as { ipAddress?: string } | undefined)?.ipAddress ?? null;
    return {
      request: { ...body, name: String(body.name ?? "vm") } as unknown as VmRequest,
      publicIp,
      // The NSG is read at each connection: a rule changed later applies at once.
      admits: (sourceIp, port) => nsgAdmits(store, nic()?.networkSecurityGroup?.id, sourceIp, port),
    };
  }
}
