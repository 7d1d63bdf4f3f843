import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { z } from "zod";
import { shellQuote } from "../components/probeCommand";
import { engineShellEnv } from "./engineStack";
import { type IdentityReader, type ProcessIdentity, processIdentity, sameProcess } from "./processIdentity";

export { processAlive, processState } from "./processIdentity";

/**
 * A kept Local Azure (`npm run local -- --keep`) for any client: `.local-azure/kept.json` (owner-only:
 * it holds the deployer's secret) says where ARM, Entra and each VM's IMDS and SSH are, and
 * `npm run local -- env` renders it as `export` lines for a shell to eval. The rendering is a list of
 * sources, so other tools (the engine's PATH and backend) add their lines beside the Azure SDK's.
 */

export const KEPT_FILE = "kept.json";
/** Local Azure's CA, copied beside kept.json so it outlives the temporary folder of the run. */
export const KEPT_CA_FILE = "ca.pem";
/**
 * The system's CAs followed by Local Azure's: what a shell that evals `env` trusts (SSL_CERT_FILE,
 * REQUESTS_CA_BUNDLE), so that curl, git, Go and Python there still verify every other server.
 */
export const KEPT_TRUST_FILE = "ca-bundle.pem";
/**
 * Who keeps Local Azure, beside kept.json (whose fields are a contract for any client): the keeper's
 * identity (PID, start time, command line: local/processIdentity.ts), so that after a crash, a
 * SIGKILL or a reboot a PID the kernel gave to another program is never taken for the keeper (never
 * signalled, never blocking `start`), and whether it deletes the stack when asked (destroySignal).
 */
export const KEPT_KEEPER_FILE = "keeper.json";

/**
 * Where systems keep the bundle of their trusted CAs, as one PEM file: the files Go's crypto/x509
 * reads on Linux (root_linux.go), in its order, which also covers macOS's /etc/ssl/cert.pem.
 */
export const SYSTEM_CA_BUNDLES: readonly string[] = [
  "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Gentoo, Arch
  "/etc/pki/tls/certs/ca-bundle.crt", // Fedora, RHEL 6
  "/etc/ssl/ca-bundle.pem", // openSUSE
  "/etc/pki/tls/cacert.pem", // OpenELEC
  "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
  "/etc/ssl/cert.pem", // Alpine, macOS
];

/**
 * The file of CAs this machine trusts: SSL_CERT_FILE when this process has one (and it is not an env
 * shell's own trust bundle, which would fold Local Azure's CA in again), else the first system bundle
 * that exists; null when there is none.
 */
export function systemCaBundle(
  env: NodeJS.ProcessEnv = process.env,
  candidates: readonly string[] = SYSTEM_CA_BUNDLES,
): string | null {
  const own = env.SSL_CERT_FILE;
  if (own && existsSync(own) && !isKeptTrustBundle(own)) return own;
  return candidates.find((file) => existsSync(file)) ?? null;
}

const endLine = (pem: string) => (pem.endsWith("\n") ? pem : `${pem}\n`);

/** The trust bundle's text: the system's CAs (when any), then Local Azure's. */
export function trustBundleText(systemPem: string | null, localAzureCaPem: string): string {
  return `${systemPem ? endLine(systemPem) : ""}${endLine(localAzureCaPem)}`;
}

/**
 * Whether a file is a trust bundle writeKept wrote (of this state folder or any other): named
 * ca-bundle.pem, beside a Local Azure CA (ca.pem) that it ends with. A user's own bundle that happens
 * to have that name (Fedora's /etc/pki/tls/certs/ca-bundle.crt's kin, a company's) is not one.
 */
export function isKeptTrustBundle(file: string): boolean {
  if (basename(file) !== KEPT_TRUST_FILE) return false;
  try {
    return readFileSync(file, "utf8").endsWith(endLine(readFileSync(join(dirname(file), KEPT_CA_FILE), "utf8")));
  } catch {
    return false;
  }
}

const keptSchema = z
  .object({
    pid: z.number().int().positive(),
    armEndpoint: z.string().url(),
    authorityHost: z.string().url(),
    tenantId: z.string().min(1),
    subscriptionId: z.string().min(1),
    caBundle: z.string().min(1),
    deployer: z.object({ clientId: z.string().min(1), clientSecret: z.string().min(1) }).strict(),
    vms: z.array(
      z
        .object({
          name: z.string(),
          imdsEndpoint: z.string().url(),
          host: z.string(),
          sshPort: z.number().int(),
        })
        .strict(),
    ),
  })
  .strict();

export type KeptLocalAzure = z.infer<typeof keptSchema>;
export type KeptVm = KeptLocalAzure["vms"][number];

/** What a running Local Azure tells about itself (LocalAzure satisfies it). */
export interface KeepableAzure {
  armEndpoint: string;
  authorityHost: string;
  tenantId: string;
  subscriptionId: string;
  sshPort: number;
  caCertPem: string;
  deployer: { clientId: string; clientSecret: string };
  vmRuntime(vmResourceId: string): { imdsEndpoint: string; publicIp: string | null } | undefined;
}

/** kept.json's content: exactly these fields, the VMs in the order given (their ARM IDs). */
export function keptRecord(azure: KeepableAzure, vmIds: string[], pid: number, caBundle: string): KeptLocalAzure {
  const vms = vmIds.flatMap((id): KeptVm[] => {
    const runtime = azure.vmRuntime(id);
    if (!runtime) return [];
    return [
      {
        name: id.split("/").pop() ?? id,
        imdsEndpoint: runtime.imdsEndpoint,
        host: runtime.publicIp ?? "",
        sshPort: azure.sshPort,
      },
    ];
  });
  return {
    pid,
    armEndpoint: azure.armEndpoint,
    authorityHost: azure.authorityHost,
    tenantId: azure.tenantId,
    subscriptionId: azure.subscriptionId,
    caBundle,
    deployer: { clientId: azure.deployer.clientId, clientSecret: azure.deployer.clientSecret },
    vms,
  };
}

/**
 * Writes the CA to `<stateDir>/ca.pem`, the system's CAs and it to `<stateDir>/ca-bundle.pem` (from
 * `systemBundle`, by default this machine's: systemCaBundle), the keeper's identity (the process `pid`,
 * read with `identify`; none when it is not running) to keeper.json, and kept.json (mode 600), each
 * replaced atomically so a reader never sees half a file; returns kept.json's path. keeper.json comes
 * first: a reader that finds kept.json finds its keeper beside it.
 */
export function writeKept(
  stateDir: string,
  azure: KeepableAzure,
  vmIds: string[],
  pid = process.pid,
  systemBundle: string | null = systemCaBundle(),
  identify: IdentityReader = processIdentity,
): string {
  mkdirSync(stateDir, { recursive: true });
  const caBundle = join(stateDir, KEPT_CA_FILE);
  writeFileSync(caBundle, azure.caCertPem);
  const trust = join(stateDir, KEPT_TRUST_FILE);
  writeAtomically(
    trust,
    trustBundleText(systemBundle === null ? null : readFileSync(systemBundle, "utf8"), azure.caCertPem),
    pid,
  );
  const identity = identify(pid);
  if (identity === null) rmSync(join(stateDir, KEPT_KEEPER_FILE), { force: true });
  else writeKeeper(stateDir, identity);
  const file = join(stateDir, KEPT_FILE);
  writeAtomically(file, `${JSON.stringify(keptRecord(azure, vmIds, pid, caBundle), null, 2)}\n`, pid, 0o600);
  return file;
}

function writeAtomically(file: string, text: string, pid: number, mode?: number): void {
  const partial = `${file}.${pid}.tmp`;
  writeFileSync(partial, text, mode === undefined ? undefined : { mode });
  renameSync(partial, file);
}

/** The keeper as keeper.json records it: its identity, and the signal it answers by deleting the stack. */
export interface Keeper extends ProcessIdentity {
  /** Set by a keeper that deletes the stack and removes kept.json on this signal (`--keep`'s DESTROY_SIGNAL). */
  destroySignal?: NodeJS.Signals;
}

const keeperSchema = z
  .object({
    pid: z.number().int().positive(),
    startTime: z.string().min(1),
    commandLine: z.array(z.string()),
    destroySignal: z.enum(["SIGUSR2"]).optional(),
  })
  .strict();

function writeKeeper(stateDir: string, keeper: Keeper): void {
  writeAtomically(join(stateDir, KEPT_KEEPER_FILE), `${JSON.stringify(keeper)}\n`, keeper.pid, 0o600);
}

/** keeper.json's record, or null when there is none (or it is not one). */
export function readKeeper(stateDir: string): Keeper | null {
  try {
    const parsed = keeperSchema.safeParse(JSON.parse(readFileSync(join(stateDir, KEPT_KEEPER_FILE), "utf8")));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * Records that this process, the keeper, now deletes the stack when sent `signal` (its handler is in
 * place): `npm run local -- destroy` in another shell signals only a keeper that said so, since the
 * signal's default action would kill any other.
 */
export function recordDestroySignal(stateDir: string, signal: NodeJS.Signals, pid = process.pid): void {
  const keeper = readKeeper(stateDir);
  if (keeper === null || keeper.pid !== pid) return;
  writeKeeper(stateDir, { ...keeper, destroySignal: signal });
}

/** Removes kept.json and its keeper (the kept run stopped); the CA stays, harmless, for shells that still name it. */
export function removeKept(stateDir: string): void {
  rmSync(join(stateDir, KEPT_FILE), { force: true });
  rmSync(join(stateDir, KEPT_KEEPER_FILE), { force: true });
}

/**
 * The kept Local Azure and its keeper, or why there is none. `stale`: kept.json names a process that is
 * gone, or not the recorded keeper (the kernel gave its PID to another program): no keeper runs, and
 * the files are left over (after a crash, a SIGKILL, a reboot); whoever takes over removes them.
 */
export type KeptLookup = { kept: KeptLocalAzure; keeper: Keeper } | { none: string; stale?: true };

/** The one command that starts Local Azure for any client (local/service.ts). */
export const START_COMMAND = "npm run local -- start";

const START_HINT = `start it with \`${START_COMMAND}\``;

/**
 * The live kept Local Azure of this state dir, or why there is none (one sentence). Live means its
 * keeper runs: the process kept.json names is the one keeper.json records (the same start time and
 * command line). Reads only: a stale kept.json is reported, not removed (removeStaleKept).
 */
export function readLiveKept(stateDir: string, identify: IdentityReader = processIdentity): KeptLookup {
  const file = join(stateDir, KEPT_FILE);
  if (!existsSync(file)) return { none: `no Local Azure is running (no ${file}); ${START_HINT}` };
  let parsed: z.SafeParseReturnType<unknown, KeptLocalAzure>;
  try {
    parsed = keptSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
  } catch (error) {
    return { none: `no Local Azure is running (${file} is not JSON: ${(error as Error).message}); ${START_HINT}` };
  }
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      none: `no Local Azure is running (${file} is not a kept record: ${issue?.path.join(".") || "(root)"} ${issue?.message}); ${START_HINT}`,
    };
  }
  const { pid } = parsed.data;
  const live = identify(pid);
  if (live === null) {
    return {
      none: `no Local Azure is running (${file} names process ${pid}, which is no longer running); ${START_HINT}`,
      stale: true,
    };
  }
  const keeper = readKeeper(stateDir);
  const keeperFile = join(stateDir, KEPT_KEEPER_FILE);
  if (keeper === null) {
    return {
      none: `no Local Azure is running (${file} names process ${pid}, but ${keeperFile} does not record which process that was, so it may be any program now); ${START_HINT}`,
      stale: true,
    };
  }
  // Another keeper is replacing both files (keeper.json first): neither stale nor live yet.
  if (keeper.pid !== pid) {
    return {
      none: `no Local Azure is running yet (${file} names process ${pid}, ${keeperFile} process ${keeper.pid}); ${START_HINT}`,
    };
  }
  if (!sameProcess(keeper, live)) {
    return {
      none: `no Local Azure is running (${file} names process ${pid}, which is another program now: ${shortCommand(live)}); ${START_HINT}`,
      stale: true,
    };
  }
  return { kept: parsed.data, keeper };
}

function shortCommand(identity: ProcessIdentity): string {
  const command = identity.commandLine.join(" ");
  return command.length > 80 ? `${command.slice(0, 77)}...` : command;
}

/**
 * Removes kept.json and keeper.json when they name no live keeper (readLiveKept's `stale`), so that
 * no later reader takes them for a keeper; returns why they were stale, or null (nothing removed).
 */
export function removeStaleKept(stateDir: string, identify: IdentityReader = processIdentity): string | null {
  const lookup = readLiveKept(stateDir, identify);
  if (!("stale" in lookup)) return null;
  removeKept(stateDir);
  return lookup.none;
}

/**
 * A variable's value: exactly this text, or folders put in front of what the variable holds in the
 * shell that evaluates the line (PATH), so that shell keeps its own folders.
 */
export type EnvValue = string | { prepend: string };

/** One source of `export` lines: its variables, or why it has none right now. */
export interface EnvSource {
  name: string;
  variables(stateDir: string): { variables: Array<[string, EnvValue]> } | { none: string };
}

/** One `export` line; a prepended value ends with the evaluating shell's own value, expanded there. */
export function exportLine(name: string, value: EnvValue): string {
  if (typeof value === "string") return `export ${name}=${shellQuote(value)}`;
  return `export ${name}=${shellQuote(value.prepend)}"\${${name}:+:$${name}}"`;
}

/**
 * The Azure SDK's and the Azure CLI's environment for a kept Local Azure: @azure/identity's EnvironmentCredential
 * variables (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST), the
 * subscription, the ARM endpoint as AZURE_RESOURCE_MANAGER_ENDPOINT (the name Azure Service Operator
 * reads beside AZURE_AUTHORITY_HOST for a custom cloud), and the CA for Node (NODE_EXTRA_CA_CERTS: added
 * to Node's own CAs) and OpenSSL-based tools (SSL_CERT_FILE: it replaces the system's bundle, so it
 * names the bundle of the system's CAs and Local Azure's, and curl, git and Go in that shell still
 * verify every other server).
 */
export const azureSdkEnv: EnvSource = {
  name: "Local Azure",
  variables(stateDir) {
    const lookup = readLiveKept(stateDir);
    if ("none" in lookup) return lookup;
    const kept = lookup.kept;
    return {
      variables: [
        ["AZURE_TENANT_ID", kept.tenantId],
        ["AZURE_CLIENT_ID", kept.deployer.clientId],
        ["AZURE_CLIENT_SECRET", kept.deployer.clientSecret],
        ["AZURE_AUTHORITY_HOST", kept.authorityHost],
        ["AZURE_SUBSCRIPTION_ID", kept.subscriptionId],
        ["AZURE_RESOURCE_MANAGER_ENDPOINT", kept.armEndpoint],
        ["NODE_EXTRA_CA_CERTS", kept.caBundle],
        ["SSL_CERT_FILE", trustBundle(kept)],
        ...azureCliVariables(stateDir, kept),
      ],
    };
  },
};

/** The trust bundle beside kept.json's CA (writeKept writes both); the CA alone where there is none (an older kept run). */
function trustBundle(kept: KeptLocalAzure): string {
  const bundle = join(dirname(kept.caBundle), KEPT_TRUST_FILE);
  return existsSync(bundle) ? bundle : kept.caBundle;
}

/** Microsoft's Azure CLI's own settings folder for Local Azure, beside kept.json (never ~/.azure). */
export const AZURE_CLI_CONFIG_SUBDIR = "azure-cli";

/**
 * Microsoft's Azure CLI (az) for a kept Local Azure: its own config folder (AZURE_CONFIG_DIR: the
 * cloud registered for Local Azure, the sign-ins and token cache stay out of ~/.azure), the CAs for
 * Python's requests (REQUESTS_CA_BUNDLE, which replaces certifi's: the trust bundle, so pip and any
 * requests client in that shell still verify other servers), MSAL's instance discovery off (core.instance_discovery: an
 * authority MSAL does not know is otherwise checked against login.microsoftonline.com) and telemetry
 * off (core.collect_telemetry), so that the requests az sends stay on loopback. az reads any `az
 * config` setting from AZURE_<SECTION>_<NAME>.
 */
function azureCliVariables(stateDir: string, kept: KeptLocalAzure): Array<[string, EnvValue]> {
  return [
    ["AZURE_CONFIG_DIR", join(resolve(stateDir), AZURE_CLI_CONFIG_SUBDIR)],
    ["REQUESTS_CA_BUNDLE", trustBundle(kept)],
    ["AZURE_CORE_INSTANCE_DISCOVERY", "false"],
    ["AZURE_CORE_COLLECT_TELEMETRY", "false"],
  ];
}

/** Every source `npm run local -- env` renders, in order; add a source here to add its lines. */
export const ENV_SOURCES: EnvSource[] = [azureSdkEnv, engineShellEnv];

/**
 * `env`'s whole answer: `export NAME='value'` lines from every source that has some (exit 0), or one
 * line on stderr saying why there is nothing to print (exit 1).
 */
export function renderEnv(
  stateDir: string,
  sources: EnvSource[] = ENV_SOURCES,
): { stdout: string; stderr: string; code: 0 | 1 } {
  const lines: string[] = [];
  const reasons: string[] = [];
  for (const source of sources) {
    const answer = source.variables(stateDir);
    if ("none" in answer) reasons.push(answer.none);
    else for (const [name, value] of answer.variables) lines.push(exportLine(name, value));
  }
  if (lines.length === 0) {
    return { stdout: "", stderr: `nothing to print: ${reasons.join("; ") || "no sources"}\n`, code: 1 };
  }
  return { stdout: `${lines.join("\n")}\n`, stderr: "", code: 0 };
}
