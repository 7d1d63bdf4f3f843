import type { RunningScript, ScriptJob } from "../guestScript";

/**
 * What a VM's guest is to the rest of Local Azure, whichever kind runs it: the portable guest (a
 * command runner and, with a public IP, an SSH server in this process; ./portableMachine.ts) or a
 * booted Debian (../linuxGuest/machine.ts, adapted to this interface in ./virtualMachine.ts). Booting is starting one, a
 * power-off or a deletion is closing it; identity changes need nothing of it (they change what the
 * VM's IMDS answers). The VM's life around it is ./virtualMachine.ts.
 */

export interface GuestMachine {
  /** Resolves once the machine has booted and its agent can run scripts; rejects if it never will. */
  readonly ready: Promise<void>;
  /** Where its SSH answers (the VM's public IP), or null: a VM without a public IP has no SSH relay at all. */
  readonly ssh: { host: string; port: number } | null;
  /** Runs a script inside the machine (call once `ready` resolved). */
  runScript(job: ScriptJob): RunningScript;
  /** Whether a user of that name exists inside the machine (runAsUser). */
  userExists(name: string): Promise<boolean>;
  /** Stops the machine: every process in it, the SSH relay, and what it keeps on the host. */
  close(): Promise<void>;
}
