import { describe, expect, it } from "vitest";
import { evaluateResource } from "../../local/policyCheck";
import { linuxSshKeysOnly, sshKeysOnlyViolations } from "../../policy/sshKeysOnly";
import { stackVm } from "./fixtures/stackResources";

describe("vm-linux-ssh-keys-only", () => {
  it("passes the stack's VM: password authentication disabled, no password", () => {
    expect(sshKeysOnlyViolations("vmia-vm0", stackVm())).toEqual([]);
  });

  it("rejects disablePasswordAuthentication false", () => {
    const vm = stackVm((v) => {
      if (v.osProfile?.linuxConfiguration) v.osProfile.linuxConfiguration.disablePasswordAuthentication = false;
    });
    expect(sshKeysOnlyViolations("vmia-vm0", vm)).toEqual([
      'virtual machine "vmia-vm0": osProfile.linuxConfiguration.disablePasswordAuthentication is false; allowed: true (SSH keys only)',
    ]);
  });

  it("rejects a Linux VM that leaves disablePasswordAuthentication out", () => {
    const vm = stackVm((v) => {
      if (v.osProfile?.linuxConfiguration) delete v.osProfile.linuxConfiguration.disablePasswordAuthentication;
    });
    expect(sshKeysOnlyViolations("vmia-vm0", vm)).toEqual([
      'virtual machine "vmia-vm0": osProfile.linuxConfiguration.disablePasswordAuthentication is not set; allowed: true (SSH keys only)',
    ]);
  });

  it("rejects an adminPassword without showing it, and a VM with no osProfile at all", () => {
    const withPassword = stackVm((v) => {
      if (v.osProfile) v.osProfile.adminPassword = "hunter2-Hunter2";
    });
    const messages = sshKeysOnlyViolations("vmia-vm0", withPassword);
    expect(messages).toEqual([
      'virtual machine "vmia-vm0": osProfile.adminPassword is set (value withheld); allowed: not set (SSH keys only)',
    ]);
    expect(messages.join("\n")).not.toContain("hunter2");
    expect(
      sshKeysOnlyViolations(
        "bare",
        stackVm((v) => delete v.osProfile),
      ),
    ).toEqual([
      'virtual machine "bare": osProfile.linuxConfiguration.disablePasswordAuthentication is not set; allowed: true (SSH keys only)',
    ]);
  });

  it("leaves Windows VMs alone", () => {
    const windows = stackVm((v) => {
      v.osProfile = { adminUsername: "admin", adminPassword: "P@ssw0rd-long", windowsConfiguration: {} };
    });
    expect(sshKeysOnlyViolations("win", windows)).toEqual([]);
  });

  it("the policy object reports mandatory violations on azure-native:compute:VirtualMachine only", async () => {
    const vm = stackVm((v) => {
      if (v.osProfile?.linuxConfiguration) v.osProfile.linuxConfiguration.disablePasswordAuthentication = false;
    });
    expect(
      await evaluateResource({ type: "azure-native:compute:VirtualMachine", name: "vmia-vm0", inputs: vm }, [
        linuxSshKeysOnly,
      ]),
    ).toEqual([
      {
        policy: "vm-linux-ssh-keys-only",
        enforcementLevel: "mandatory",
        resource: "vmia-vm0",
        message:
          'virtual machine "vmia-vm0": osProfile.linuxConfiguration.disablePasswordAuthentication is false; allowed: true (SSH keys only)',
      },
    ]);
    expect(
      await evaluateResource({ type: "azure-native:compute:VirtualMachineScaleSet", name: "vmss", inputs: vm }, [
        linuxSshKeysOnly,
      ]),
    ).toEqual([]);
  });
});
