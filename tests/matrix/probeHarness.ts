import { type Faults, LocalAzure, type ServedRequest, seedVm } from "../../local-azure";
import type { Expectation, Expected, IdentityKind } from "../../verify/contract";
import { judgeProbe, parseProbeOutput } from "../../verify/judge";
import { type ProbeRun, runProbe } from "../support/probeRunner";
import type { ProbeFaultCase, ProbeObservation } from "./cases";

/**
 * Runs the real probe (verify/probe.sh, real bash and curl) against a real Local Azure, the way the
 * program runs it on a VM: a clean environment, settings inline, the script on stdin.
 * Shared by the matrix tests and by `npm run bench` (probe cost, time to notice access).
 */

const READER_ROLE_ID = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

export interface TimedProbeRun extends ProbeRun {
  startedAt: number;
  finishedAt: number;
}

/**
 * Runs probe.sh with exactly `vars` (plus PATH and the CA bundle), timed in wall-clock milliseconds;
 * on the real clock unless `clock` says otherwise (tests/support/probeClock.ts).
 */
export async function runProbeTimed(
  vars: Record<string, string>,
  caCertPath: string,
  killAfterMs?: number,
  clock: "real" | "virtual" = "real",
): Promise<TimedProbeRun> {
  const startedAt = Date.now();
  const run = await runProbe(vars, { caBundlePath: caCertPath, killAfterMs, clock });
  return { ...run, startedAt, finishedAt: Date.now() };
}

export type SeededVm = Awaited<ReturnType<typeof seedVm>>;

/** The probe's settings for a seeded VM and identity, as the program would pass them. */
export function probeVars(
  azure: LocalAzure,
  seed: SeededVm,
  identity: IdentityKind,
  deadlineSeconds: number,
): Record<string, string> {
  const vars: Record<string, string> = {
    AZURE_POD_IDENTITY_AUTHORITY_HOST: seed.imdsEndpoint,
    ARM_ENDPOINT: azure.armEndpoint,
    SUBSCRIPTION_ID: azure.subscriptionId,
    RESOURCE_GROUP: seed.resourceGroup,
    PROBE_DEADLINE_SECONDS: String(deadlineSeconds),
  };
  if (identity === "user") {
    if (!seed.userIdentity) throw new Error("seedVm returned no user-assigned identity");
    vars.MI_CLIENT_ID = seed.userIdentity.clientId;
  }
  return vars;
}

/** What the judge should find for this VM and identity. */
export function expectedFor(azure: LocalAzure, seed: SeededVm, identity: IdentityKind): Expected {
  const common = { tenantId: azure.tenantId, resourceGroupId: seed.resourceGroupId, resource: `${azure.armEndpoint}/` };
  if (identity === "user") {
    if (!seed.userIdentity) throw new Error("seedVm returned no user-assigned identity");
    return {
      ...common,
      principalId: seed.userIdentity.principalId,
      clientId: seed.userIdentity.clientId,
      resourceId: seed.userIdentity.id,
    };
  }
  if (!seed.systemIdentity) throw new Error("seedVm returned no system-assigned identity");
  return { ...common, principalId: seed.systemIdentity.principalId };
}

/** The VM's ARM resource ID (seedVm returns the group and the VM name it used). */
export function vmResourceId(seed: SeededVm, vmName: string): string {
  return `${seed.resourceGroupId}/providers/Microsoft.Compute/virtualMachines/${vmName}`;
}

async function applyMutation(azure: LocalAzure, seed: SeededVm, row: ProbeFaultCase, vmName: string): Promise<void> {
  if (row.mutation === "remove-identity") {
    await azure.arm.request("PATCH", `${vmResourceId(seed, vmName)}?api-version=2024-11-01`, {
      identity: { type: "None" },
    });
  } else if (row.mutation === "revoke-reader") {
    const principalId = (seed.userIdentity ?? seed.systemIdentity)?.principalId;
    const listed = await azure.arm.request(
      "GET",
      `${seed.resourceGroupId}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01`,
    );
    const assignments = (listed.body as { value: Array<{ id: string; properties: { principalId: string } }> }).value;
    for (const assignment of assignments.filter((a) => a.properties.principalId === principalId)) {
      await azure.arm.deleteAndWait(`${assignment.id}?api-version=2022-04-01`);
    }
  } else if (row.mutation === "reader-at-sibling-group") {
    const sibling = `${seed.resourceGroup}-sibling`;
    const siblingId = `/subscriptions/${azure.subscriptionId}/resourceGroups/${sibling}`;
    await azure.arm.request("PUT", `${siblingId}?api-version=2021-04-01`, { location: "eastus" });
    const principalId = (seed.userIdentity ?? seed.systemIdentity)?.principalId;
    await azure.arm.request(
      "PUT",
      `${siblingId}/providers/Microsoft.Authorization/roleAssignments/6d8a7a51-4bd1-4c4b-9b3f-5b1b0f5d2a11?api-version=2022-04-01`,
      {
        properties: {
          roleDefinitionId: `/subscriptions/${azure.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`,
          principalId,
          principalType: "ServicePrincipal",
        },
      },
    );
  }
}

function judged(probe: unknown, expected: Expected, identity: IdentityKind, expectation: Expectation): boolean {
  return judgeProbe(probe, expected, identity, expectation).verified;
}

export interface ProbeCaseRun {
  observation: ProbeObservation;
  run: TimedProbeRun;
  /** When Local Azure created the Reader assignment at the VM's group (ms since the epoch), if it did. */
  assignmentCreatedAt: number | null;
  /** When Local Azure answered the probe's successful resource group read, if any. */
  readSucceededAt: number | null;
}

/**
 * Shuts the row's held-open fault window (cases.ts, windowShutAfter) once Local Azure has given the
 * probe the answer that shows the probe met it; returns the onRequest listener and the switch that
 * starts watching (after seeding and the mutation, whose own requests must not count).
 */
function windowShutter(row: ProbeFaultCase) {
  let watched: Faults | undefined;
  const shut = row.windowShutAfter;
  return {
    watch: (faults: Faults) => {
      watched = faults;
    },
    onRequest: (entry: ServedRequest) => {
      if (watched === undefined || shut === undefined) return;
      if (entry.service !== shut.service || entry.status !== shut.status) return;
      if (shut.service === "arm" && !isResourceGroupRead(entry.url.split("?")[0])) return;
      watched[shut.fault] = 0;
      watched = undefined;
    },
  };
}

/**
 * Runs one row of the fault matrix in a Local Azure of its own (rows run concurrently), the probe on
 * the real clock unless `clock` is "virtual" (the tests run every row so; the bench times the real one).
 */
export async function runProbeFaultCase(
  row: ProbeFaultCase,
  clock: "real" | "virtual" = "real",
): Promise<ProbeCaseRun> {
  const shutter = windowShutter(row);
  const azure = await LocalAzure.start({ faults: row.faultsAtSeed, onRequest: shutter.onRequest });
  try {
    const vmName = `vm-${row.id}`.slice(0, 40);
    const seed = await seedVm(azure, { identity: row.identity, grant: row.grant, vmName });
    await applyMutation(azure, seed, row, vmName);
    Object.assign(azure.faults, row.faultsAtProbe ?? {});
    const seenBefore = azure.requestLog.length;
    const vars = probeVars(azure, seed, row.identity, row.deadlineSeconds);
    if (row.probeExpect !== undefined) vars.PROBE_EXPECT = row.probeExpect;
    shutter.watch(azure.faults);
    const run = await runProbeTimed(vars, azure.caCertPath, undefined, clock);
    const probeRequests = azure.requestLog.slice(seenBefore);
    return {
      observation: observe(run, expectedFor(azure, seed, row.identity), row.identity, probeRequests.length),
      run,
      assignmentCreatedAt: assignmentCreatedAt(azure),
      readSucceededAt:
        probeRequests.find(
          (entry) => entry.service === "arm" && isResourceGroupRead(entry.path) && entry.status === 200,
        )?.at ?? null,
    };
  } finally {
    await azure.stop();
  }
}

/** Reduces a probe run to the facts the matrix asserts, judging its JSON both ways. */
export function observe(
  run: TimedProbeRun,
  expected: Expected,
  identity: IdentityKind,
  requests: number,
): ProbeObservation {
  const probe = parseProbeOutput(run.stdout);
  const json = typeof probe === "object" && probe !== null ? (probe as Record<string, unknown>) : null;
  const error = (json?.error ?? null) as ProbeObservation["error"];
  const attempts = (stage: string) => {
    const value = (json?.[stage] as { attempts?: unknown } | null | undefined)?.attempts;
    return typeof value === "number" ? value : null;
  };
  return {
    exitCode: run.exitCode,
    verifiedWhenGranted: judged(probe, expected, identity, "granted"),
    verifiedWhenDenied: judged(probe, expected, identity, "denied"),
    error: error === null ? null : { stage: error.stage, status: error.status, code: error.code },
    tokenAttempts: attempts("token"),
    resourceGroupAttempts: attempts("resourceGroup"),
    requests,
    elapsedSeconds: (run.finishedAt - run.startedAt) / 1000,
    stdoutIsOneObject: json !== null && !Array.isArray(json),
  };
}

function isResourceGroupRead(path: string): boolean {
  return /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/?$/i.test(path);
}

/** When the (first) role assignment was created, from Local Azure's request log. */
export function assignmentCreatedAt(azure: LocalAzure): number | null {
  const entry = azure.requestLog.find(
    (e) => e.service === "arm" && e.method === "PUT" && /\/roleAssignments\//i.test(e.path) && e.status < 300,
  );
  return entry?.at ?? null;
}

export type { Faults };
