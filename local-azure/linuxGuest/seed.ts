import { stringify } from "yaml";

/**
 * What a real guest is provisioned with, made only from its VM's request, as Azure's provisioning
 * does it (cloud-init's Azure datasource): the admin user named by osProfile.adminUsername with the
 * keys of osProfile.linuxConfiguration.ssh.publicKeys, password login off when
 * disablePasswordAuthentication is true, and osProfile.customData as cloud-init's user-data. Here the
 * datasource is NoCloud: its seed (meta-data, user-data) plus the platform's configuration, which the
 * Azure datasource would hand cloud-init itself. Pure: the files' contents, written by machine.ts.
 */

/** The part of a VM's ARM request that provisioning reads. */
export interface VmRequest {
  /** The VM's ARM name (the host name when osProfile.computerName is absent). */
  name: string;
  properties: {
    vmId?: string;
    osProfile?: {
      computerName?: string;
      adminUsername?: string;
      customData?: string;
      linuxConfiguration?: {
        disablePasswordAuthentication?: boolean;
        ssh?: { publicKeys?: Array<{ keyData?: string; path?: string }> };
      };
    };
  };
}

export interface GuestSeed {
  hostname: string;
  /** NoCloud meta-data: instance-id, local-hostname, public-keys. */
  metaData: string;
  /** NoCloud user-data: the decoded customData, or an empty cloud-config. */
  userData: string;
  /** /etc/cloud/cloud.cfg.d/90-azure-provisioning.cfg: what the Azure datasource sets (admin user, ssh_pwauth). */
  platformConfig: string;
}

/** Where Azure's ARM endpoint answers inside every guest (its /etc/hosts names it). */
export const GUEST_ARM_ADDRESS = "127.0.2.1";
export const ARM_HOST_NAME = "management.azure.com";
/** Azure's link-local address of the Instance Metadata Service. */
export const IMDS_ADDRESS = "169.254.169.254";

/** An RFC 1123 host name label, as systemd and cloud-init accept it; anything else becomes a safe one. */
export function guestHostname(request: VmRequest): string {
  const wanted = (request.properties.osProfile?.computerName ?? request.name).toLowerCase();
  const cleaned = wanted
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63);
  return cleaned === "" ? "azure-vm" : cleaned;
}

/** The admin's authorized keys: the keyData of every publicKeys entry, trimmed, empty ones dropped. */
export function adminKeys(request: VmRequest): string[] {
  return (request.properties.osProfile?.linuxConfiguration?.ssh?.publicKeys ?? [])
    .map((key) => String(key.keyData ?? "").trim())
    .filter((key) => key !== "");
}

/** customData as cloud-init receives it: decoded from base64. A VM without customData gets none. */
export function userDataOf(customData: string | undefined): string {
  if (customData === undefined || customData === "") return "#cloud-config\n{}\n";
  return Buffer.from(customData, "base64").toString("utf8");
}

export function guestSeed(request: VmRequest): GuestSeed {
  const osProfile = request.properties.osProfile ?? {};
  const adminUsername = osProfile.adminUsername;
  if (!adminUsername) throw new Error(`VM ${request.name} has no osProfile.adminUsername: a Linux guest needs one`);
  const hostname = guestHostname(request);
  const metaData = stringify({
    "instance-id": request.properties.vmId ?? request.name,
    "local-hostname": hostname,
    "public-keys": adminKeys(request),
  });
  // The Azure datasource names the default user after adminUsername, locks its password, and turns
  // password login off when the request says so (cloud-init DataSourceAzure: ssh_pwauth, default_user).
  const passwordOff = osProfile.linuxConfiguration?.disablePasswordAuthentication === true;
  const platformConfig = `# Provisioned by Local Azure from the VM's request (what cloud-init's Azure datasource sets).\n${stringify(
    {
      system_info: { default_user: { name: adminUsername, lock_passwd: true } },
      ssh_pwauth: !passwordOff,
    },
  )}`;
  return { hostname, metaData, userData: userDataOf(osProfile.customData), platformConfig };
}

/** The guest's /etc/hosts: the image's names, its own host name (sudo looks it up) and Azure's ARM. */
export function guestHosts(imageHosts: string, hostname: string): string {
  return `${imageHosts}127.0.1.1\t${hostname}\n${GUEST_ARM_ADDRESS}\t${ARM_HOST_NAME}\n`;
}
