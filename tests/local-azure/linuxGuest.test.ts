import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  cgroupRoots,
  type HostFacts,
  processStartTime,
  realGuestsUnavailable,
} from "../../local-azure/linuxGuest/host";
import {
  cacheRoot,
  debianMirror,
  GUEST_PACKAGES,
  GUEST_SUITE,
  IMAGE_CLOUD_CONFIG,
  IMAGE_HOSTS,
  imageLocation,
  imageMirror,
  imageStamp,
  MASKED_UNITS,
} from "../../local-azure/linuxGuest/image";
import { bootLinuxGuest, type LinuxGuestOptions } from "../../local-azure/linuxGuest/machine";
import { guestHostname, guestHosts, guestSeed, userDataOf, type VmRequest } from "../../local-azure/linuxGuest/seed";
import { guestPython, NET_AUDIT } from "../guest/hostAzureCli";

// The pure parts of the real guests (local-azure/linuxGuest/): what a guest is provisioned with, the
// image's name and cache, and why a machine cannot run them. Booting them is npm run test:guest's.

const KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3i8rkz8y9cVh4m8ZJmP0bY2c7n5s1o9hYx9pM4yQa check";
const KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBu6vD9yJc7l1oT5sE0fG3hK8mN2pQ4rS6tU8vW0xY1z mine";

function request(change: Partial<NonNullable<VmRequest["properties"]["osProfile"]>> = {}): VmRequest {
  return {
    name: "vmia-vm0",
    properties: {
      vmId: "0f1e2d3c-0000-4000-8000-000000000001",
      osProfile: {
        computerName: "vmia-vm0",
        adminUsername: "azureuser",
        customData: Buffer.from("#cloud-config\nssh_genkeytypes: [ed25519]\n").toString("base64"),
        linuxConfiguration: {
          disablePasswordAuthentication: true,
          ssh: {
            publicKeys: [
              { path: "/home/azureuser/.ssh/authorized_keys", keyData: `${KEY_A}\n` },
              { path: "/home/azureuser/.ssh/authorized_keys", keyData: KEY_B },
            ],
          },
        },
        ...change,
      },
    },
  };
}

describe("guestSeed: what a real guest is provisioned with, from its VM's request only", () => {
  it("meta-data names the instance, the host and the admin's keys", () => {
    expect(parse(guestSeed(request()).metaData)).toEqual({
      "instance-id": "0f1e2d3c-0000-4000-8000-000000000001",
      "local-hostname": "vmia-vm0",
      "public-keys": [KEY_A, KEY_B],
    });
  });

  it("user-data is customData decoded, as cloud-init receives it", () => {
    expect(guestSeed(request()).userData).toBe("#cloud-config\nssh_genkeytypes: [ed25519]\n");
    expect(userDataOf(undefined)).toBe("#cloud-config\n{}\n");
    expect(userDataOf("")).toBe("#cloud-config\n{}\n");
  });

  it("the platform's config names the admin user, locks its password and turns password login off", () => {
    const config = guestSeed(request()).platformConfig;
    expect(config.startsWith("# Provisioned by Local Azure")).toBe(true);
    expect(parse(config)).toEqual({
      system_info: { default_user: { name: "azureuser", lock_passwd: true } },
      ssh_pwauth: false,
    });
  });

  it("leaves password login on when the request does not disable it", () => {
    const seed = guestSeed(
      request({ adminUsername: "ops", linuxConfiguration: { disablePasswordAuthentication: false } }),
    );
    expect(parse(seed.platformConfig)).toEqual({
      system_info: { default_user: { name: "ops", lock_passwd: true } },
      ssh_pwauth: true,
    });
    expect(parse(seed.metaData)["public-keys"]).toEqual([]);
  });

  it("refuses a VM without an admin user, naming it", () => {
    expect(() => guestSeed(request({ adminUsername: undefined }))).toThrow(
      "VM vmia-vm0 has no osProfile.adminUsername: a Linux guest needs one",
    );
  });

  it("makes a host name systemd and cloud-init accept", () => {
    expect(guestHostname(request({ computerName: "Web_01.Example" }))).toBe("web-01-example");
    expect(guestHostname(request({ computerName: "___" }))).toBe("azure-vm");
    expect(guestHostname({ name: "fromName", properties: { osProfile: { adminUsername: "a" } } })).toBe("fromname");
  });

  it("/etc/hosts names the guest itself (sudo looks it up) and Azure's ARM host", () => {
    expect(guestHosts(IMAGE_HOSTS, "vmia-vm0")).toBe(
      "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tvmia-vm0\n127.0.2.1\tmanagement.azure.com\n",
    );
  });
});

describe("the guest image", () => {
  it("is named by a stamp of its suite, packages, masked units and settings, whatever their order", () => {
    const input = {
      suite: GUEST_SUITE,
      packages: GUEST_PACKAGES,
      masked: MASKED_UNITS,
      cloudConfig: IMAGE_CLOUD_CONFIG,
      hosts: IMAGE_HOSTS,
      customizationVersion: 1,
    };
    const stamp = imageStamp(input);
    expect(stamp).toMatch(/^trixie-[0-9a-f]{16}$/);
    expect(imageStamp({ ...input, packages: [...GUEST_PACKAGES].reverse() })).toBe(stamp);
    expect(imageStamp({ ...input, packages: [...GUEST_PACKAGES, "vim"] })).not.toBe(stamp);
    expect(imageStamp({ ...input, customizationVersion: 2 })).not.toBe(stamp);
    expect(imageStamp({ ...input, cloudConfig: `${IMAGE_CLOUD_CONFIG}#\n` })).not.toBe(stamp);
  });

  it("masks what holds a guest's boot or adds unpinned host keys", () => {
    expect(MASKED_UNITS).toEqual(
      expect.arrayContaining(["systemd-networkd-wait-online.service", "sshd-keygen.service"]),
    );
    expect(GUEST_PACKAGES).toEqual(
      expect.arrayContaining(["systemd", "openssh-server", "cloud-init", "python3-cffi-backend", "curl", "sudo"]),
    );
  });

  it("is cached outside the clone: $XDG_CACHE_HOME when absolute, else ~/.cache", () => {
    expect(cacheRoot({ XDG_CACHE_HOME: "/var/cache/ci" }, "/home/u")).toBe("/var/cache/ci/vm-identity-access");
    expect(cacheRoot({ XDG_CACHE_HOME: "relative" }, "/home/u")).toBe("/home/u/.cache/vm-identity-access");
    expect(cacheRoot({}, "/root")).toBe("/root/.cache/vm-identity-access");
    expect(imageLocation("/c", "trixie-0123456789abcdef")).toEqual({
      stamp: "trixie-0123456789abcdef",
      dir: "/c/guest-image-trixie-0123456789abcdef",
      rootfs: "/c/guest-image-trixie-0123456789abcdef/rootfs",
      doneMarker: "/c/guest-image-trixie-0123456789abcdef/complete",
    });
  });

  it("reads the Debian mirror from apt's deb822 sources, skipping disabled and non-deb stanzas", () => {
    const sources = [
      "Types: deb-src\nURIs: http://src.example/debian\nSuites: trixie\nComponents: main\n",
      "Types: deb\nURIs: http://off.example/debian\nSuites: trixie\nEnabled: no\n",
      "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\nSuites: bookworm\nComponents: main\n",
      "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n",
    ].join("\n");
    expect(debianMirror([{ name: "/etc/apt/sources.list.d/debian.sources", text: sources }])).toBe(
      "http://mirror.example/debian",
    );
  });

  it("reads the Debian mirror from one-line sources, options and all", () => {
    const list =
      "# deb http://commented.example/debian trixie main\ndeb [arch=amd64] https://m.example/debian trixie main\n";
    expect(debianMirror([{ name: "/etc/apt/sources.list", text: list }])).toBe("https://m.example/debian");
    expect(debianMirror([{ name: "/etc/apt/sources.list", text: "deb http://m.example/ubuntu noble main\n" }])).toBe(
      null,
    );
  });
});

describe("imageMirror: where the image's packages come from", () => {
  const debian = [{ name: "/etc/apt/sources.list", text: "deb http://m.example/debian trixie main\n" }];
  const ubuntu = [{ name: "/etc/apt/sources.list", text: "deb http://m.example/ubuntu noble main\n" }];

  it("is GUEST_DEBIAN_MIRROR when set, else the Debian mirror of this machine's apt", () => {
    expect(imageMirror({ GUEST_DEBIAN_MIRROR: "https://d.example/debian/" }, ubuntu)).toEqual({
      mirror: "https://d.example/debian",
    });
    expect(imageMirror({}, debian)).toEqual({ mirror: "http://m.example/debian" });
  });

  it("says what to do on a host whose apt has no Debian source, or with a mirror that is no URL", () => {
    expect(imageMirror({}, ubuntu)).toEqual({
      missing:
        "found no Debian mirror in /etc/apt/sources.list or /etc/apt/sources.list.d: add one for apt first, or set GUEST_DEBIAN_MIRROR to a Debian mirror's URL (…/debian)",
    });
    expect(imageMirror({ GUEST_DEBIAN_MIRROR: "deb.example" }, debian)).toEqual({
      missing: `GUEST_DEBIAN_MIRROR must be a Debian mirror's http(s) URL (…/debian); got "deb.example"`,
    });
  });
});

describe("realGuestsUnavailable: why --guest linux cannot run here, in one line", () => {
  const ready: HostFacts = {
    platform: "linux",
    uid: 0,
    missingTools: [],
    cgroups: { unified: "/sys/fs/cgroup", mirrors: [] },
    sshRedirect: null,
    image: imageLocation("/c", "trixie-0123456789abcdef"),
    imageWanted: imageLocation("/c", "trixie-0123456789abcdef"),
  };

  it("says nothing when everything is there", () => {
    expect(realGuestsUnavailable(ready)).toBeNull();
  });

  it.each([
    [{ platform: "darwin" as const }, "--guest linux needs Linux (systemd-nspawn containers); this is darwin"],
    [
      { uid: 1000 },
      "--guest linux needs root (it makes namespaces, mounts, cgroups and nftables rules); run it as root",
    ],
    [
      {
        missingTools: [
          { tool: "systemd-nspawn", debianPackage: "systemd-container" },
          { tool: "socat", debianPackage: "socat" },
        ],
      },
      "--guest linux needs systemd-nspawn, socat on the PATH: apt-get install systemd-container socat",
    ],
    [{ cgroups: null }, "--guest linux needs a cgroup2 hierarchy (/sys/fs/cgroup or /sys/fs/cgroup/unified)"],
    [
      { missingTools: [{ tool: "nft", debianPackage: "nftables" }] },
      "--guest linux needs nft on the PATH: apt-get install nftables",
    ],
    [
      { sshRedirect: "nft --check of a nat table failed: Error: Could not process rule: Operation not supported" },
      "--guest linux needs nftables in this network namespace, to send port 22 of each VM's address to its guest whatever listens on port 22 here: nft --check of a nat table failed: Error: Could not process rule: Operation not supported",
    ],
    [
      { image: null },
      "--guest linux needs the guest image (/c/guest-image-trixie-0123456789abcdef is not built): run npm run guest:build first",
    ],
  ])("names what is missing: %j", (change, reason) => {
    expect(realGuestsUnavailable({ ...ready, ...change })).toBe(reason);
  });

  it("finds no cgroup2 hierarchy under a folder that has none", () => {
    expect(cgroupRoots("/nonexistent")).toBeNull();
  });

  it("reads a process's start time after its command name, spaces and parentheses included", () => {
    const stat = "4242 (node (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 11 0 987654 1000 200";
    expect(processStartTime(4242, () => stat)).toBe("987654");
    expect(
      processStartTime(1, () => {
        throw new Error("ENOENT");
      }),
    ).toBeNull();
  });
});

describe("bootLinuxGuest refuses a read-only bind it cannot give, before it makes anything", () => {
  const options = (readOnlyBinds: string[]) =>
    ({
      request: request(),
      publicIp: "127.77.0.2",
      image: { rootfs: "/nonexistent/rootfs" },
      readOnlyBinds,
    }) as unknown as LinuxGuestOptions;

  it.each([["relative/folder"], ["/tmp/a:b"], ["/nonexistent/folder"]])("%s", async (folder) => {
    await expect(bootLinuxGuest(options([folder]))).rejects.toThrow(
      `a folder bound into a guest must be an existing absolute path without ":" (systemd-nspawn --bind-ro); got ${folder}`,
    );
  });
});

describe("guestPython: the Azure CLI tier's venv inside a real guest", () => {
  const venv = "/root/.cache/vm-identity-access/azure-cli-2.91.0";
  const pyenvCfg = "home = /root/.pyenv/versions/3.11.7/bin\ninclude-system-site-packages = false\nversion = 3.11.7\n";
  const imageHas = (paths: string[]) => (path: string) => paths.includes(path);

  it("binds the venv, a Python installation of its own and the network audit, each at its host path", () => {
    expect(guestPython(venv, pyenvCfg, "/root/.pyenv/versions/3.11.7/bin/python3.11", imageHas(["/usr"]))).toEqual({
      binds: [venv, "/root/.pyenv/versions/3.11.7", NET_AUDIT],
    });
  });

  it("copies the system's Python (its folders are the guest's own): its interpreter and standard library, beside the venv", () => {
    const debian = "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n";
    expect(guestPython(venv, debian, "/usr/bin/python3.11", imageHas(["/usr"]))).toEqual({
      copy: {
        interpreter: "/usr/bin/python3.11",
        stdlib: "/usr/lib/python3.11",
        version: "3.11",
        dir: `${venv}.guest`,
      },
      binds: [venv, `${venv}.guest`, NET_AUDIT],
    });
    expect(guestPython(venv, "home = /usr/bin\n", "/usr/bin/python3.11", imageHas(["/usr"]))).toEqual({
      unusable: `${venv}/pyvenv.cfg names no version (version = X.Y.Z)`,
    });
  });

  it("refuses a venv in a folder the guest has, a pyvenv.cfg without an interpreter folder, or an interpreter outside it", () => {
    expect(guestPython(venv, pyenvCfg, "/root/.pyenv/versions/3.11.7/bin/python3.11", imageHas([venv]))).toEqual({
      unusable: `${venv} is a folder of the guest's own system too: bound read-only it would hide the guest's`,
    });
    expect(guestPython(venv, "version = 3.11.7\n", "/x/bin/python3", imageHas([]))).toEqual({
      unusable: `${venv}/pyvenv.cfg names no interpreter folder (home = <installation>/bin)`,
    });
    expect(guestPython(venv, pyenvCfg, "/opt/other/bin/python3.11", imageHas([]))).toEqual({
      unusable: "the venv's python is /opt/other/bin/python3.11, outside its installation /root/.pyenv/versions/3.11.7",
    });
  });
});
