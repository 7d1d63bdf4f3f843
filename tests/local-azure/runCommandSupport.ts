import { existsSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import type { ArmResponse, LocalAzure } from "../../local-azure/index";

/** What the run command tests share: ARM calls through the wire, and waiting for what Local Azure reports. */

export const API = "api-version=2024-11-01";

/** Fast and deterministic, except where a test sets a fault itself. */
export const FAST = {
  rbacDelaySeconds: 0,
  identityAttachDelaySeconds: 0,
  sshNotReadySeconds: 0,
  directoryReplicationSeconds: 0,
  lroSeconds: 0,
};

export interface InstanceView {
  executionState: string;
  executionMessage: string;
  exitCode: number;
  output: string;
  error: string;
  startTime?: string;
  endTime?: string;
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 20));

/** The operation's final status body (Azure-AsyncOperation polled until it is no longer InProgress). */
export async function settled(
  azure: LocalAzure,
  reply: ArmResponse,
): Promise<{ status: string; error?: { code: string; message: string } }> {
  const url = reply.headers["azure-asyncoperation"];
  if (!url) throw new Error(`no Azure-AsyncOperation on a ${reply.status}: ${JSON.stringify(reply.body)}`);
  for (;;) {
    const poll = await azure.arm.request("GET", url);
    const body = poll.body as { status: string; error?: { code: string; message: string } };
    if (body.status !== "InProgress") return body;
    await pause();
  }
}

/** GET …/runCommands/{name}?$expand=instanceView. */
export async function expanded(azure: LocalAzure, runCommandId: string): Promise<Record<string, unknown>> {
  const reply = await azure.arm.request("GET", `${runCommandId}?${API}&$expand=instanceView`);
  if (reply.status !== 200) throw new Error(`GET ${runCommandId}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body as Record<string, unknown>;
}

export async function instanceView(azure: LocalAzure, runCommandId: string): Promise<InstanceView> {
  return ((await expanded(azure, runCommandId)).properties as { instanceView: InstanceView }).instanceView;
}

/** Waits until the run command's instance view is in `state` (the script got there), and returns it. */
export async function untilState(azure: LocalAzure, runCommandId: string, state: string): Promise<InstanceView> {
  for (;;) {
    const view = await instanceView(azure, runCommandId);
    if (view.executionState === state) return view;
    await pause();
  }
}

/** PUT a run command and wait for its operation; returns the PUT's reply and the operation's end. */
export async function putRunCommand(
  azure: LocalAzure,
  runCommandId: string,
  properties: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<{ reply: ArmResponse; operation: { status: string; error?: { code: string; message: string } } }> {
  const reply = await azure.arm.request("PUT", `${runCommandId}?${API}`, {
    location: azure.location,
    ...extra,
    properties,
  });
  if (reply.status >= 400) throw new Error(`PUT ${runCommandId}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return { reply, operation: await settled(azure, reply) };
}

/** A portable VM's disk: its work folder, HOME of its scripts (what a script writes there, a test reads). */
export function vmFolder(azure: LocalAzure, vmName: string): string {
  return join(dirname(azure.caCertPath), "vms", vmName);
}

/** Waits until a script created `file` in the VM's folder (the script got that far). */
export async function untilFile(file: string): Promise<string> {
  while (!existsSync(file)) await pause();
  return readFileSync(file, "utf8");
}

/**
 * Whether a process still runs: a killed one whose parent has not reaped it yet (a zombie, reparented
 * to an init that reaps when it will) does not.
 */
export function running(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (existsSync("/proc/self/stat")) {
    try {
      return readFileSync(stat, "utf8").replace(/^.*\) /s, "")[0] !== "Z";
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once nothing listens at `endpoint` any more (a deleted VM's IMDS), looking again every 20 ms. */
export async function untilRefused(endpoint: string): Promise<void> {
  const { hostname, port } = new URL(endpoint);
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(Number(port), hostname);
      socket.once("connect", () => {
        socket.destroy();
        resolve(false);
      });
      socket.once("error", () => resolve(true));
    });
    if (refused) return;
    await pause();
  }
}
