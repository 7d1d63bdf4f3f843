import type { Server as HttpServer } from "node:http";
import { join } from "node:path";
import { hostKeysFromCustomData } from "../cloudInit";
import type { CgroupRoots } from "../linuxGuest/host";
import type { ImageLocation } from "../linuxGuest/image";
import { bootLinuxGuest, type LinuxGuest } from "../linuxGuest/machine";
import type { VmRequest } from "../linuxGuest/seed";
import type { GuestMachine } from "./guestMachine";
import type { PowerState } from "./model";
import { startPortableMachine } from "./portableMachine";

/**
 * One VM's life, whichever guest kind runs it: its IMDS (for as long as the VM exists), its guest
 * (booted when it runs, closed when it stops or goes), and its power state. Transitions happen one
 * at a time, in the order asked. What ARM asked for comes in as a VmConfig; scripts run on the guest
 * once it is ready (./runCommands.ts asks for it).
 */

/** What ARM holds that the guest is made from: the VM's request and where its network puts it. */
export interface VmConfig {
  request: VmRequest;
  /** The public IP of its NIC's first IP configuration, or null (no public IP: no SSH relay). */
  publicIp: string | null;
  /** Whether a connection from this source may reach port `port` (the VM's NSG, read live). */
  admits: (sourceIp: string, port: number) => boolean;
}

/** The guests every VM of this Local Azure gets. */
export type GuestSettings =
  | { kind: "portable"; dataDir: string; sshPort: number }
  | {
      kind: "linux";
      image: ImageLocation;
      cgroups: CgroupRoots;
      binds: readonly string[];
      arm: { host: string; port: number };
      caCertPem: string;
    };

/** What every VM shares: its guests' kind, Local Azure's CA, the boot delay, where errors are told. */
export interface VmSurroundings {
  guests: GuestSettings;
  caCertPath: string;
  /** A booting VM's guest answers neither SSH nor its agent for this long (faults.sshNotReadySeconds, read at each boot). */
  notReadyForSeconds: () => number;
  /**
   * What every command of a portable guest gets besides the VM's endpoints, read at each boot: with a
   * test's virtual clock (faults.clock), BASH_ENV naming its definitions, so that every bash the guest
   * runs, nested ones included, reads and waits on that clock.
   */
  shellEnvironment?: () => Record<string, string>;
  report: (error: Error) => void;
}

export interface VmImds {
  endpoint: string;
  server: HttpServer;
  host: string;
  port: number;
}

/** What decides whether a guest must boot again: for a real guest its public IP, for the portable one its SSH setup too. */
function bootKey(guests: GuestSettings, config: VmConfig): string {
  const os = config.request.properties.osProfile;
  if (guests.kind === "linux") return JSON.stringify([config.publicIp]);
  return JSON.stringify([
    config.publicIp,
    os?.adminUsername,
    os?.linuxConfiguration?.ssh?.publicKeys?.map((key) => key.keyData),
    os?.customData,
  ]);
}

export class VirtualMachine {
  private machine: GuestMachine | null = null;
  private linux: LinuxGuest | null = null;
  /** Resolves when the current machine is closed (whoever waits for it to boot stops waiting). */
  private machineClosed: Promise<void> = Promise.resolve();
  private closeMachineSignal: () => void = () => undefined;
  private bootedWith: string | null = null;
  /** Why the last boot failed, while the VM has no guest because of it. */
  private bootFailure: Error | null = null;
  private config: VmConfig | null = null;
  private state: PowerState;
  private queue: Promise<unknown> = Promise.resolve();
  private deleted = false;

  constructor(
    readonly id: string,
    readonly imds: VmImds,
    private readonly around: VmSurroundings,
    power: PowerState = "running",
  ) {
    // A kept cloud saves settled states only; one caught mid-transition comes back as it was heading.
    this.state =
      power === "stopping"
        ? "stopped"
        : power === "deallocating"
          ? "deallocated"
          : power === "starting"
            ? "running"
            : power;
  }

  get power(): PowerState {
    return this.state;
  }

  get publicIp(): string | null {
    return this.config?.publicIp ?? null;
  }

  /** Its real guest, while it runs one. */
  get linuxGuest(): LinuxGuest | null {
    return this.linux;
  }

  /** Its guest while it runs, booted or booting. */
  get guest(): GuestMachine | null {
    return this.machine;
  }

  /** ARM created or updated it: the guest boots (again) if it runs and what it boots from changed. */
  apply(config: VmConfig): Promise<void> {
    return this.enqueue(async () => {
      this.config = config;
      // A change told while the VM was being deleted (or Local Azure stopped) comes after the deletion
      // in the queue: nothing boots again, or a guest would outlive its VM.
      if (this.deleted || this.state !== "running") return;
      if (this.machine && this.bootedWith === bootKey(this.around.guests, config)) return;
      await this.closeMachine();
      await this.boot(config);
    });
  }

  /** Stops the guest; deallocated or only stopped, the VM keeps its IMDS, addresses and configuration. */
  powerOff(deallocate: boolean): Promise<void> {
    return this.enqueue(async () => {
      if (this.state === "deallocated" || (this.state === "stopped" && !deallocate)) return;
      this.state = deallocate ? "deallocating" : "stopping";
      await this.closeMachine();
      this.state = deallocate ? "deallocated" : "stopped";
    });
  }

  start(): Promise<void> {
    return this.enqueue(async () => {
      if (this.deleted || this.state === "running") return;
      this.state = "starting";
      try {
        if (this.config) await this.boot(this.config);
      } finally {
        this.state = "running";
      }
    });
  }

  restart(): Promise<void> {
    return this.enqueue(async () => {
      await this.closeMachine();
      if (this.config && !this.deleted) await this.boot(this.config);
    });
  }

  /**
   * The guest once it can run scripts: waits while it boots (a booting VM's command stays Pending),
   * rejects when the VM does not run or its guest stops first.
   */
  async whenReady(): Promise<GuestMachine> {
    for (;;) {
      await this.queue;
      const machine = this.machine;
      if (this.deleted || this.state !== "running")
        throw new Error(`the VM is ${this.deleted ? "deleted" : this.state}`);
      if (!machine)
        throw new Error(
          this.bootFailure
            ? `its guest did not boot: ${this.bootFailure.message}`
            : "the VM has no guest (no OS profile)",
        );
      const closed = this.machineClosed.then(() => "closed" as const);
      // A guest that never boots rejects here, with why.
      const outcome = await Promise.race([machine.ready.then(() => "ready" as const), closed]);
      if (outcome === "ready" && this.machine === machine) return machine;
      // Stopped or rebooted meanwhile (a restart, a new public IP): look again.
    }
  }

  /** The VM is gone: its guest's teardown is awaited and its errors told, then its IMDS closes. */
  delete(): Promise<void> {
    this.deleted = true;
    return this.enqueue(async () => {
      try {
        await this.closeMachine();
      } catch (error) {
        this.around.report(new Error(`tearing down the guest of ${this.id} failed: ${(error as Error).message}`));
      }
      await new Promise<void>((resolve) => this.imds.server.close(() => resolve()));
    });
  }

  private enqueue<T>(step: () => Promise<T>): Promise<T> {
    const next = this.queue.then(step);
    // The queue goes on after a failed step; the caller hears of the failure.
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async closeMachine(): Promise<void> {
    const machine = this.machine;
    this.machine = null;
    this.bootFailure = null;
    this.linux = null;
    this.bootedWith = null;
    this.closeMachineSignal();
    await machine?.close();
  }

  /**
   * Boots its guest; a failure is remembered (whoever waits for the guest hears why) and thrown to the
   * caller (the operation that booted it fails). The VM itself stays as ARM set it, running: a VM whose
   * OS does not come up still runs, its agent silent.
   */
  private async boot(config: VmConfig): Promise<void> {
    this.bootFailure = null;
    try {
      await this.bootGuest(config);
    } catch (error) {
      this.bootFailure = error as Error;
      throw error;
    }
  }

  private async bootGuest(config: VmConfig): Promise<void> {
    const guests = this.around.guests;
    const os = config.request.properties.osProfile;
    let machine: GuestMachine | null = null;
    if (guests.kind === "portable") {
      const env = {
        AZURE_POD_IDENTITY_AUTHORITY_HOST: this.imds.endpoint,
        CURL_CA_BUNDLE: this.around.caCertPath,
        ...this.around.shellEnvironment?.(),
      };
      const sshPossible = config.publicIp !== null && os?.adminUsername;
      machine = await startPortableMachine({
        workDir: join(guests.dataDir, "vms", config.request.name),
        adminUsername: os?.adminUsername ?? "root",
        env,
        notReadyForSeconds: this.around.notReadyForSeconds(),
        ssh: sshPossible
          ? {
              host: config.publicIp as string,
              port: guests.sshPort,
              authorizedKeys: (os?.linuxConfiguration?.ssh?.publicKeys ?? [])
                .map((k) => String(k.keyData ?? ""))
                .filter(Boolean),
              hostKeyPrivate: hostKeysFromCustomData(os?.customData).ed25519Private,
              admits: (sourceIp) => config.admits(sourceIp, guests.sshPort),
            }
          : null,
      });
    } else if (os?.adminUsername) {
      // A real guest is provisioned from its OS profile: without one there is nothing to boot.
      const linux = await bootLinuxGuest({
        request: config.request,
        publicIp: config.publicIp,
        imds: { host: this.imds.host, port: this.imds.port },
        arm: guests.arm,
        caCertPem: guests.caCertPem,
        admits: (sourceIp) => config.admits(sourceIp, 22),
        notReadyForSeconds: this.around.notReadyForSeconds(),
        image: guests.image,
        cgroups: guests.cgroups,
        readOnlyBinds: guests.binds,
      });
      this.linux = linux;
      machine = {
        ready: linux.ready,
        ssh: linux.host === null ? null : { host: linux.host, port: linux.port },
        runScript: (job) => linux.runScript(job),
        userExists: (name) => linux.userExists(name),
        close: () => linux.close(),
      };
    }
    this.machine = machine;
    this.bootedWith = machine ? bootKey(guests, config) : null;
    this.machineClosed = new Promise((resolve) => {
      this.closeMachineSignal = resolve;
    });
  }
}
