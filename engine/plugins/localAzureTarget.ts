import { existsSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { KEPT_ENV } from "../../local/engineStack";
import { processAlive } from "../../local/kept";
import { START_COMMAND } from "../../local/service";

/**
 * Where a stand-in plugin finds Local Azure, and its refusal to run anywhere else. The stand-ins
 * stand in for azure-native and tls only because those providers cannot be built here; they must
 * never be mistaken for the real ones, so each starts only when LOCAL_AZURE_KEPT names the kept.json
 * of a Local Azure whose endpoints are on loopback.
 */

/** The location Local Azure puts a resource group in when none is given. */
export const LOCAL_AZURE_DEFAULT_LOCATION = "eastus";

export interface LocalAzureTarget {
  armEndpoint: string;
  authorityHost: string;
  tenantId: string;
  subscriptionId: string;
  /** Path of Local Azure's CA certificate (PEM). */
  caBundle: string;
  caPem: string;
  deployer: { clientId: string; clientSecret: string };
  location: string;
}

export class NotLocalAzureError extends Error {
  constructor(plugin: string, reason: string) {
    super(
      `${plugin} here is a stand-in that talks to Local Azure (this repository's offline emulator) only, never to Azure, ` +
        `and it refuses to start: ${reason}. Start Local Azure with \`${START_COMMAND}\` and run pulumi in a shell that ran ` +
        `eval "$(npm run -s local -- env)" (it sets ${KEPT_ENV}); for real Azure, install the real plugin ` +
        `(pulumi plugin install resource ${plugin.replace(/^pulumi-resource-/, "")}).`,
    );
    this.name = "NotLocalAzureError";
  }
}

/** True for 127.0.0.0/8, ::1 and localhost: the only hosts a stand-in talks to. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

function loopbackHttpsUrl(value: unknown, field: string, fail: (reason: string) => never): string {
  if (typeof value !== "string") fail(`kept.json has no ${field}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(`kept.json's ${field} ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== "https:" || !isLoopbackHost(url.hostname)) {
    fail(`kept.json's ${field} is ${url.origin}, not an https endpoint on loopback (127.x.y.z)`);
  }
  return url.origin;
}

/** Reads and checks the kept Local Azure named by LOCAL_AZURE_KEPT; throws NotLocalAzureError otherwise. */
export function localAzureTarget(
  plugin: string,
  env: NodeJS.ProcessEnv = process.env,
  alive: (pid: number) => boolean = processAlive,
): LocalAzureTarget {
  const fail = (reason: string): never => {
    throw new NotLocalAzureError(plugin, reason);
  };
  const keptPath = env[KEPT_ENV];
  if (keptPath === undefined || keptPath === "") fail(`${KEPT_ENV} is not set`);
  if (!existsSync(keptPath as string)) fail(`no Local Azure is running (${KEPT_ENV}=${keptPath} does not exist)`);
  let kept: Record<string, unknown>;
  try {
    kept = JSON.parse(readFileSync(keptPath as string, "utf8")) as Record<string, unknown>;
  } catch (error) {
    return fail(`${keptPath} is not JSON (${(error as Error).message})`);
  }
  // A Local Azure killed without cleaning up (SIGKILL, a reboot) leaves its kept.json behind.
  if (typeof kept.pid === "number" && !alive(kept.pid)) {
    fail(`no Local Azure is running (${keptPath} names process ${kept.pid}, which is gone)`);
  }
  const armEndpoint = loopbackHttpsUrl(kept.armEndpoint, "armEndpoint", fail);
  const authorityHost = loopbackHttpsUrl(kept.authorityHost ?? kept.armEndpoint, "authorityHost", fail);
  const text = (field: string, value: unknown): string =>
    typeof value === "string" && value !== "" ? value : fail(`kept.json has no ${field}`);
  const deployer = (kept.deployer ?? {}) as Record<string, unknown>;
  const caBundle = text("caBundle", kept.caBundle);
  if (!existsSync(caBundle)) fail(`kept.json's caBundle ${caBundle} does not exist`);
  return {
    armEndpoint,
    authorityHost,
    tenantId: text("tenantId", kept.tenantId),
    subscriptionId: text("subscriptionId", kept.subscriptionId),
    caBundle,
    caPem: readFileSync(caBundle, "utf8"),
    deployer: {
      clientId: text("deployer.clientId", deployer.clientId),
      clientSecret: text("deployer.clientSecret", deployer.clientSecret),
    },
    location: typeof kept.location === "string" && kept.location !== "" ? kept.location : LOCAL_AZURE_DEFAULT_LOCATION,
  };
}

/**
 * Exits when the engine that started this plugin is gone (this process re-parented, or the pipes of
 * its stdout and stderr broken): an engine killed with SIGKILL cannot stop its plugins, and a stand-in
 * must not outlive it holding Local Azure's state. The broken pipe matters most: @pulumi/pulumi's
 * provider logs an uncaught error to stderr, whose write fails with EPIPE, which it logs again, and so
 * on, synchronously: the tls stand-in was found spinning a core with 4 GB, the interval never firing.
 */
export function exitWithEngine(intervalMs = 1000): void {
  const engine = process.ppid;
  setInterval(() => {
    if (process.ppid !== engine) process.exit(0);
  }, intervalMs).unref();
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(0);
    });
  }
}
