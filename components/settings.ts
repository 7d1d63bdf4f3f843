import { isIP } from "node:net";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

/**
 * The stack's settings, validated in one place before any resource is registered.
 * Pulumi hands config over as strings, so `parseSettings` takes raw strings and is pure: tests
 * call it directly, and `readSettings` only adds the lookup in `pulumi.Config`.
 */

export const CONFIG_NAMESPACE = "vm-identity-access";

export type IdentityMode = "user" | "system" | "both";

/** How the probe reaches the VM: over SSH from where `pulumi up` runs, or through Azure's managed Run Command. */
export type AccessCheckVia = "ssh" | "runCommand";

/** The settings, validated; what each transport needs is there only with it. */
export type Settings = CommonSettings & (SshTransport | RunCommandTransport);

export interface SshTransport {
  accessCheckVia: "ssh";
  /** The only source allowed to reach SSH, canonical (`203.0.113.7/32`). */
  sshAllowedCidr: string;
}

export interface RunCommandTransport {
  accessCheckVia: "runCommand";
  /** An existing subnet's ARM resource ID; the program then creates no network. */
  subnetId?: string;
}

export interface CommonSettings {
  identity: IdentityMode;
  /** An extra admin key of the user's own; the program always generates its own check key too. */
  sshPublicKey?: string;
  adminUsername: string;
  vmSize: string;
  vmCount: number;
  grantAccess: boolean;
  accessCheckTimeoutSeconds: number;
  /** ARM base URL without a trailing slash. */
  armEndpoint: string;
  /**
   * IMDS base URL without a trailing slash; passed to the probe only when it differs from Azure's own
   * (the probe's default), so the VM's own IMDS answers unless a test points elsewhere.
   */
  imdsEndpoint?: string;
  sshPort: number;
  /**
   * How many failed SSH dials the check rides out before it fails (the command provider's
   * dialErrorLimit; -1 for no limit); undefined when unset, which means DEFAULTS.sshDialErrorLimit.
   */
  sshDialErrorLimit?: number;
}

/** Every key the program reads, as declared in Pulumi.yaml. */
export const SETTING_KEYS = [
  "identity",
  "sshAllowedCidr",
  "sshPublicKey",
  "adminUsername",
  "vmSize",
  "vmCount",
  "grantAccess",
  "accessCheckTimeoutSeconds",
  "armEndpoint",
  "imdsEndpoint",
  "sshPort",
  "sshDialErrorLimit",
  "accessCheckVia",
  "subnetId",
] as const;
export type SettingKey = (typeof SETTING_KEYS)[number];

/** Defaults, as Pulumi.yaml declares them (a test keeps the two in step). */
export const DEFAULTS = {
  identity: "user",
  adminUsername: "azureuser",
  // Burstable, 2 vCPU / 4 GiB, sold in nearly every region and enough for cloud-init plus the probe.
  vmSize: "Standard_B2s",
  vmCount: 1,
  grantAccess: true,
  accessCheckTimeoutSeconds: 600,
  imdsEndpoint: "http://169.254.169.254",
  sshPort: 22,
  // With the provider's pause growing to 5 s, about four and a half minutes: a VM's boot and cloud-init.
  sshDialErrorLimit: 60,
  accessCheckVia: "ssh",
} as const;

/** ARM endpoints of the clouds `azure-native:environment` names. */
export const ARM_ENDPOINTS: Record<string, string> = {
  public: "https://management.azure.com",
  usgovernment: "https://management.usgovcloudapi.net",
  china: "https://management.chinacloudapi.cn",
};

/** A bad setting: Pulumi prints a RunError's message without a stack trace. */
export class SettingsError extends pulumi.RunError {
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1
        ? problems[0]
        : `${problems.length} settings are invalid:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
    this.name = "SettingsError";
  }
}

// Names Azure refuses as a Linux admin user (Learn: "Linux VM FAQ", admin username requirements).
const RESERVED_USERNAMES = new Set(
  "administrator admin user user1 test user2 test1 user3 admin1 1 123 a actuser adm admin2 aspnet backup console david guest john owner root server sql support support_388945a0 sys test2 test3 user4 user5".split(
    " ",
  ),
);

/** An existing subnet's ARM resource ID (ARM compares IDs case-insensitively). */
const SUBNET_ID =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Network\/virtualNetworks\/[^/]+\/subnets\/[^/]+$/i;

const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be a whole number from ${min} to ${max}`);

const baseUrl = (schemes: string[], why: string) =>
  z.string().transform((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a URL such as ${schemes[0]}://host${why}` });
      return z.NEVER;
    }
    if (!schemes.includes(url.protocol.slice(0, -1))) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must use ${schemes.join(" or ")}${why}` });
      return z.NEVER;
    }
    if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash || url.username || url.password) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: "must be a base URL: scheme, host and optional port, without path, query or credentials",
      });
      return z.NEVER;
    }
    return url.origin;
  });

const fieldSchemas = {
  identity: z.enum(["user", "system", "both"], {
    errorMap: () => ({ message: "must be one of user, system, both" }),
  }),
  sshAllowedCidr: z.string().transform((value, ctx) => {
    const problem = cidrProblem(value);
    if (problem) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
      return z.NEVER;
    }
    return value;
  }),
  sshPublicKey: z.string().refine((v) => sshPublicKeyProblem(v) === undefined, {
    message:
      "must be one OpenSSH public key line: ssh-ed25519 or ssh-rsa, then the base64 key, then an optional comment",
  }),
  adminUsername: z
    .string()
    .regex(
      /^[a-z_][a-z0-9_-]{0,31}$/,
      "must be 1 to 32 characters of lower-case letters, digits, '_' or '-', starting with a letter or '_'",
    )
    .refine((v) => !RESERVED_USERNAMES.has(v), "is a name Azure reserves (such as root, admin, administrator)"),
  vmSize: z
    .string()
    .regex(/^(Standard|Basic)_[A-Za-z0-9_]+$/, "must be an Azure VM size name such as Standard_B2s or Standard_D2s_v5"),
  vmCount: wholeNumber(1, 10),
  grantAccess: z.enum(["true", "false"], { errorMap: () => ({ message: "must be true or false" }) }),
  accessCheckTimeoutSeconds: wholeNumber(30, 3600),
  armEndpoint: baseUrl(["https"], " (the access token must not travel in clear)"),
  imdsEndpoint: baseUrl(["http", "https"], ""),
  sshPort: wholeNumber(1, 65535),
  sshDialErrorLimit: z
    .string()
    .regex(/^(-1|\d+)$/, "must be -1 (no limit) or a whole number from 0 to 1000")
    .transform(Number)
    .refine((n) => n <= 1000, "must be -1 (no limit) or a whole number from 0 to 1000"),
  accessCheckVia: z.enum(["ssh", "runCommand"], {
    errorMap: () => ({
      message: "must be ssh (over SSH, through a public IP) or runCommand (Azure's Run Command, no inbound path)",
    }),
  }),
  subnetId: z
    .string()
    .regex(
      SUBNET_ID,
      "must be a subnet's ARM resource ID: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>",
    ),
} satisfies Record<SettingKey, z.ZodTypeAny>;

/** Why `value` is not a usable CIDR for the SSH rule, or undefined when it is. */
export function cidrProblem(value: string): string | undefined {
  const allowed = "must be one network in CIDR form, such as 203.0.113.7/32";
  const slash = value.indexOf("/");
  if (slash < 0) {
    return isIP(value) === 4
      ? `${allowed} (for this single address write ${value}/32)`
      : isIP(value) === 6
        ? `${allowed} (for this single address write ${value}/128)`
        : allowed;
  }
  const address = value.slice(0, slash);
  const lengthText = value.slice(slash + 1);
  const family = isIP(address);
  const bits = family === 4 ? 32 : 128;
  if (family === 0 || !/^\d{1,3}$/.test(lengthText) || Number(lengthText) > bits) return allowed;
  const length = Number(lengthText);
  // Security control: SSH must never be opened to the whole Internet.
  if (length === 0) return `${allowed}; /0 would open SSH to the whole Internet`;
  const canonical = canonicalNetwork(address, family as 4 | 6, length);
  if (canonical !== value) return `${allowed}; host bits are set: did you mean ${canonical}?`;
  return undefined;
}

function canonicalNetwork(address: string, family: 4 | 6, length: number): string {
  const bits = family === 4 ? 32 : 128;
  const value = family === 4 ? ipv4ToBigInt(address) : ipv6ToBigInt(address);
  const mask = ((1n << BigInt(length)) - 1n) << BigInt(bits - length);
  const network = value & mask;
  const text = family === 4 ? bigIntToIpv4(network) : bigIntToIpv6(network);
  // Compare IPv6 in its own compressed spelling so that equal networks are not reported as different.
  return `${family === 6 && ipv6ToBigInt(address) === network ? address : text}/${length}`;
}

function ipv4ToBigInt(address: string): bigint {
  return address.split(".").reduce((acc, part) => (acc << 8n) + BigInt(Number(part)), 0n);
}

function bigIntToIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => Number((value >> shift) & 255n)).join(".");
}

function ipv6ToBigInt(address: string): bigint {
  const [head, tail = ""] = address.includes("::") ? address.split("::") : [address, undefined];
  const toGroups = (part: string | undefined) => (part ? part.split(":") : []);
  let groups = toGroups(head);
  let tailGroups = toGroups(tail);
  const expandV4 = (list: string[]) => {
    const last = list[list.length - 1];
    if (last?.includes(".")) {
      const v4 = ipv4ToBigInt(last);
      return [...list.slice(0, -1), (v4 >> 16n).toString(16), (v4 & 0xffffn).toString(16)];
    }
    return list;
  };
  if (address.includes("::")) {
    tailGroups = expandV4(tailGroups);
    groups = [...groups, ...Array(8 - groups.length - tailGroups.length).fill("0"), ...tailGroups];
  } else {
    groups = expandV4(groups);
  }
  return groups.reduce((acc, group) => (acc << 16n) + BigInt(Number.parseInt(group, 16)), 0n);
}

function bigIntToIpv6(value: bigint): string {
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => ((value >> shift) & 0xffffn).toString(16));
  return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}

/** Why `line` is not an OpenSSH public key Azure accepts for Linux, or undefined when it is. */
export function sshPublicKeyProblem(line: string): string | undefined {
  const match = /^(ssh-ed25519|ssh-rsa) ([A-Za-z0-9+/]+={0,2})( [^\r\n]*)?$/.exec(line.trim());
  if (!match) return "not an ssh-ed25519 or ssh-rsa public key line";
  const blob = Buffer.from(match[2], "base64");
  const typeLength = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  if (blob.subarray(4, 4 + typeLength).toString("latin1") !== match[1]) return "the key data does not match its type";
  return undefined;
}

/**
 * Validates raw config values (as Pulumi stores them: strings) and applies the defaults.
 * Every problem is reported at once, each naming the key, the value and what is allowed.
 */
export function parseSettings(raw: Partial<Record<string, string | undefined>>, azureEnvironment?: string): Settings {
  const problems: string[] = [];
  const values: Partial<Record<SettingKey, unknown>> = {};
  const given = (key: SettingKey) => raw[key] !== undefined && raw[key] !== "";
  // The transport first: it decides which of the SSH settings mean anything.
  const viaParsed = given("accessCheckVia") ? fieldSchemas.accessCheckVia.safeParse(raw.accessCheckVia) : undefined;
  const via: AccessCheckVia | undefined =
    viaParsed === undefined ? DEFAULTS.accessCheckVia : viaParsed.success ? viaParsed.data : undefined;
  for (const key of SETTING_KEYS) {
    const value = raw[key];
    if (value === undefined || value === "") continue;
    // With runCommand an SSH source is an error of its own (below), whatever its spelling.
    if (key === "sshAllowedCidr" && via === "runCommand") continue;
    const parsed = fieldSchemas[key].safeParse(value);
    if (parsed.success) values[key] = parsed.data;
    else problems.push(describeProblem(key, value, parsed.error.issues[0]?.message ?? "is invalid"));
  }
  if (via === "ssh") problems.push(...sshProblems(raw, given));
  if (via === "runCommand") problems.push(...runCommandProblems(raw, values, given));
  const environment = azureEnvironment === undefined || azureEnvironment === "" ? "public" : azureEnvironment;
  if (values.armEndpoint === undefined && !(environment in ARM_ENDPOINTS)) {
    problems.push(
      `azure-native:environment = ${JSON.stringify(environment)} is not a cloud this program knows: ` +
        `use one of ${Object.keys(ARM_ENDPOINTS).join(", ")}, or set ${CONFIG_NAMESPACE}:armEndpoint`,
    );
  }
  if (problems.length > 0) throw new SettingsError(problems);

  const transport: SshTransport | RunCommandTransport =
    via === "ssh"
      ? { accessCheckVia: "ssh", sshAllowedCidr: values.sshAllowedCidr as string }
      : {
          accessCheckVia: "runCommand",
          ...(values.subnetId !== undefined ? { subnetId: values.subnetId as string } : {}),
        };
  return {
    identity: (values.identity as IdentityMode | undefined) ?? DEFAULTS.identity,
    ...transport,
    sshPublicKey: (values.sshPublicKey as string | undefined)?.trim(),
    adminUsername: (values.adminUsername as string | undefined) ?? DEFAULTS.adminUsername,
    vmSize: (values.vmSize as string | undefined) ?? DEFAULTS.vmSize,
    vmCount: (values.vmCount as number | undefined) ?? DEFAULTS.vmCount,
    grantAccess: values.grantAccess === undefined ? DEFAULTS.grantAccess : values.grantAccess === "true",
    accessCheckTimeoutSeconds:
      (values.accessCheckTimeoutSeconds as number | undefined) ?? DEFAULTS.accessCheckTimeoutSeconds,
    armEndpoint: (values.armEndpoint as string | undefined) ?? ARM_ENDPOINTS[environment],
    // The real CLI hands the program Pulumi.yaml's default; passing it inline would override the IMDS a
    // test VM's environment names (Local Azure's guests), so only a non-default endpoint is passed.
    imdsEndpoint:
      values.imdsEndpoint === DEFAULTS.imdsEndpoint ? undefined : (values.imdsEndpoint as string | undefined),
    sshPort: (values.sshPort as number | undefined) ?? DEFAULTS.sshPort,
    sshDialErrorLimit: values.sshDialErrorLimit as number | undefined,
  };
}

/** Over SSH: the one source SSH admits is required, and the program makes its own network. */
function sshProblems(raw: Partial<Record<string, string | undefined>>, given: (key: SettingKey) => boolean): string[] {
  const problems: string[] = [];
  if (!given("sshAllowedCidr")) {
    problems.push(
      `${CONFIG_NAMESPACE}:sshAllowedCidr is required: the one network allowed to reach SSH, in CIDR form ` +
        `(pulumi config set sshAllowedCidr 203.0.113.7/32); it never defaults to the Internet ` +
        `(or set accessCheckVia runCommand: no public IP, no inbound rule)`,
    );
  }
  if (given("subnetId")) {
    problems.push(
      `${CONFIG_NAMESPACE}:subnetId = ${JSON.stringify(raw.subnetId)} is for accessCheckVia runCommand: over SSH the program ` +
        `makes its own network (a public IP, an NSG rule from sshAllowedCidr); set accessCheckVia runCommand, or remove it ` +
        `(pulumi config rm subnetId)`,
    );
  }
  return problems;
}

/**
 * Through Run Command nothing reaches the VM from outside: an SSH source would open nothing, and the SSH
 * connection's settings would be silently ignored, so each is an error. The CLI hands the program
 * Pulumi.yaml's defaults (sshPort 22, sshDialErrorLimit 60), which cannot be told from the same values
 * set by hand: only another value is refused.
 */
function runCommandProblems(
  raw: Partial<Record<string, string | undefined>>,
  values: Partial<Record<SettingKey, unknown>>,
  given: (key: SettingKey) => boolean,
): string[] {
  const problems: string[] = [];
  const why = "with accessCheckVia runCommand nothing reaches the VM from outside (no public IP, no inbound rule)";
  if (given("sshAllowedCidr")) {
    problems.push(
      `${CONFIG_NAMESPACE}:sshAllowedCidr = ${JSON.stringify(raw.sshAllowedCidr)} is for accessCheckVia ssh: ${why}, ` +
        `so there is no SSH to allow; remove it (pulumi config rm sshAllowedCidr)`,
    );
  }
  for (const key of ["sshPort", "sshDialErrorLimit"] as const) {
    if (values[key] !== undefined && values[key] !== DEFAULTS[key]) {
      problems.push(
        `${CONFIG_NAMESPACE}:${key} = ${JSON.stringify(raw[key])} is for accessCheckVia ssh: ${why}, and the check ` +
          `makes no SSH connection; remove it (pulumi config rm ${key})`,
      );
    }
  }
  return problems;
}

function describeProblem(key: SettingKey, value: string, allowed: string): string {
  // Never echo a key's full text back: it is long, and the message names the problem precisely enough.
  const shown = key === "sshPublicKey" && value.length > 40 ? `${value.slice(0, 37)}...` : value;
  return `${CONFIG_NAMESPACE}:${key} = ${JSON.stringify(shown)} ${allowed}`;
}

/** Reads and validates the stack's settings; throws SettingsError before anything is registered. */
export function readSettings(): Settings {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const raw: Record<string, string | undefined> = {};
  for (const key of SETTING_KEYS) raw[key] = config.get(key);
  return parseSettings(raw, new pulumi.Config("azure-native").get("environment"));
}
