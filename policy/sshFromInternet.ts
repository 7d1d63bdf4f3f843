import * as network from "@pulumi/azure-native/network";
import * as command from "@pulumi/command";
import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import type * as pulumi from "@pulumi/pulumi";
import { knownItems, peek, sameText, shown, UNKNOWN } from "./values";

export const SSH_PORT = 22;

export type NetworkSecurityGroupProps = pulumi.Unwrap<network.NetworkSecurityGroupArgs>;
export type SecurityRuleProps = pulumi.Unwrap<network.SecurityRuleArgs>;
/** The fields a rule has both inline (securityRules[i]) and as a separate SecurityRule. */
type RuleFields = Pick<
  SecurityRuleProps,
  | "access"
  | "direction"
  | "protocol"
  | "sourceAddressPrefix"
  | "sourceAddressPrefixes"
  | "destinationPortRange"
  | "destinationPortRanges"
>;

const ALLOWED_SOURCES = 'allowed: a specific network such as "203.0.113.7/32", never *, Internet, Any or a /0 prefix';

/**
 * Whether a source address prefix means the whole Internet: the wildcard, the Internet and Any
 * service tags (in any case), or any /0 prefix (0.0.0.0/0, ::/0, and the odd 10.0.0.0/0, which
 * still matches every address).
 */
export function isInternetSource(prefix: string): boolean {
  const value = prefix.trim().toLowerCase();
  return value === "*" || value === "internet" || value === "any" || /^[^/]+\/0$/.test(value);
}

/** Whether a destination port range ("*", "22", "20-25") includes `port`. */
export function portRangeIncludes(range: string, port: number): boolean {
  const value = range.trim();
  if (value === "*") return true;
  const bounds = /^(\d+)\s*-\s*(\d+)$/.exec(value);
  if (bounds) return Number(bounds[1]) <= port && port <= Number(bounds[2]);
  return /^\d+$/.test(value) && Number(value) === port;
}

/** The first destination port field that includes `port`, as `destinationPortRange "20-25"`. */
function admittedPort(rule: RuleFields, port: number): string | undefined {
  const range = peek(() => rule.destinationPortRange);
  if (typeof range === "string" && portRangeIncludes(range, port)) return `destinationPortRange ${shown(range)}`;
  const ranges = peek(() => rule.destinationPortRanges);
  for (const { index, item } of knownItems(ranges)) {
    if (typeof item === "string" && portRangeIncludes(item, port)) {
      return `destinationPortRanges[${index}] ${shown(item)}`;
    }
  }
  return undefined;
}

/** Every source field that names the Internet, as `sourceAddressPrefix "0.0.0.0/0"`. */
function internetSources(rule: RuleFields): string[] {
  const found: string[] = [];
  const prefix = peek(() => rule.sourceAddressPrefix);
  if (typeof prefix === "string" && isInternetSource(prefix)) found.push(`sourceAddressPrefix ${shown(prefix)}`);
  const prefixes = peek(() => rule.sourceAddressPrefixes);
  for (const { index, item } of knownItems(prefixes)) {
    if (typeof item === "string" && isInternetSource(item)) {
      found.push(`sourceAddressPrefixes[${index}] ${shown(item)}`);
    }
  }
  return found;
}

/** A rule whose access, direction or protocol is not known yet is skipped: it may well be harmless. */
function admitsInboundTcp(rule: RuleFields): boolean {
  const access = peek(() => rule.access);
  const direction = peek(() => rule.direction);
  const protocol = peek(() => rule.protocol);
  // SSH is TCP: a Udp or Icmp rule on port 22 does not reach sshd.
  return (
    sameText(access, "Allow") &&
    sameText(direction, "Inbound") &&
    (sameText(protocol, "Tcp") || sameText(protocol, "*"))
  );
}

/**
 * The violations of one rule: one message per Internet source when the rule allows inbound TCP to
 * `port`. `subject` names the resource and, for an inline rule, its place in the list; `sshBy` names
 * the remote command that makes `port` an SSH port, when it is not SSH's own 22.
 */
export function ruleViolations(subject: string, rule: RuleFields, port = SSH_PORT, sshBy?: string): string[] {
  if (!admitsInboundTcp(rule)) return [];
  const portField = admittedPort(rule, port);
  if (portField === undefined) return [];
  const why = sshBy === undefined ? "" : `, where remote command ${shown(sshBy)} connects over SSH`;
  return internetSources(rule).map(
    (source) =>
      `${subject} allows inbound SSH (port ${port}${why}, ${portField}) from the Internet: ${source}; ${ALLOWED_SOURCES}`,
  );
}

/** Violations of an NSG's inline rules (`securityRules`). */
export function networkSecurityGroupViolations(
  name: string,
  nsg: NetworkSecurityGroupProps,
  port = SSH_PORT,
  sshBy?: string,
): string[] {
  const rules = peek(() => nsg.securityRules);
  return knownItems(rules).flatMap(({ index, item }) => {
    const ruleName = peek(() => item.name);
    const label = typeof ruleName === "string" ? ` (${shown(ruleName)})` : "";
    return ruleViolations(`network security group "${name}": securityRules[${index}]${label}`, item, port, sshBy);
  });
}

/** Violations of a separate `network.SecurityRule`. */
export function securityRuleViolations(
  name: string,
  rule: SecurityRuleProps,
  port = SSH_PORT,
  sshBy?: string,
): string[] {
  return ruleViolations(`security rule "${name}"`, rule, port, sshBy);
}

/**
 * The SSH ports besides 22 that the stack itself uses: the `connection.port` of each remote command
 * (the provider's default is 22), with the first command using each. A port not known yet is skipped.
 */
export function remoteSshPorts(commands: Array<{ name: string; port: unknown }>): Map<number, string> {
  const ports = new Map<number, string>();
  for (const { name, port } of commands) {
    const value = port === undefined || port === null ? SSH_PORT : port;
    if (value === UNKNOWN || typeof value !== "number" || value === SSH_PORT || ports.has(value)) continue;
    ports.set(value, name);
  }
  return ports;
}

/** The stack's violations on the SSH ports its remote commands use besides 22 (22 is judged per resource). */
export function stackSshViolations(resources: PolicyResource[]): string[] {
  const ports = remoteSshPorts(
    resources
      .filter((resource) => resource.isType(command.remote.Command))
      .map((resource) => ({
        name: resource.name,
        port: peek(() => (resource.props as { connection?: { port?: unknown } }).connection?.port),
      })),
  );
  const violations: string[] = [];
  for (const [port, sshBy] of ports) {
    for (const resource of resources) {
      // The inputs as registered (asType would type them as the resource's outputs).
      if (resource.isType(network.NetworkSecurityGroup)) {
        const nsg = resource.props as NetworkSecurityGroupProps;
        violations.push(...networkSecurityGroupViolations(resource.name, nsg, port, sshBy));
      } else if (resource.isType(network.SecurityRule)) {
        const rule = resource.props as SecurityRuleProps;
        violations.push(...securityRuleViolations(resource.name, rule, port, sshBy));
      }
    }
  }
  return violations;
}

/**
 * SSH is port 22, and any other port the stack's own remote commands reach SSH on (a VM whose sshd
 * listens elsewhere is reached there): the policy knows the SSH rule by the port the check connects
 * to, not by its name or priority. Port 22 is judged per resource, before the rule exists. Another
 * port is only known once the remote command's connection is (@pulumi/command resolves it with its
 * defaults, so a preview sees it unknown): the stack validation judges it at the end of the update,
 * which then fails. Azure's VMs, and the real guests, have SSH on 22; the portable guest's random
 * port is the case this catches.
 */
export const noSshFromInternet: ResourceValidationPolicy & StackValidationPolicy = {
  name: "nsg-no-ssh-from-internet",
  description:
    "No network security group rule (inline or a separate SecurityRule) allows inbound SSH from the Internet (*, Internet, Any or any /0 prefix): TCP 22, or any port the stack's remote commands connect to over SSH.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const nsg = args.asType(network.NetworkSecurityGroup);
    if (nsg) {
      for (const message of networkSecurityGroupViolations(args.name, nsg)) reportViolation(message);
      return;
    }
    const rule = args.asType(network.SecurityRule);
    if (rule) {
      for (const message of securityRuleViolations(args.name, rule)) reportViolation(message);
      return;
    }
    args.notApplicable("Policy only applies to azure-native:network:NetworkSecurityGroup and SecurityRule");
  },
  validateStack: (args, reportViolation) => {
    for (const message of stackSshViolations(args.resources)) reportViolation(message);
  },
};
