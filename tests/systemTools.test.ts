import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  installCommand,
  missingTools,
  missingToolsNote,
  parseToolList,
  requireTool,
  SYSTEM_TOOLS,
  whichTool,
} from "./support/systemTools";

/** A PATH holding only what scripts/systemTools.sh itself runs, so every listed tool is missing. */
const bareBin = mkdtempSync(join(tmpdir(), "system-tools-bin-"));
for (const command of ["bash", "dirname", "id"]) {
  const path = whichTool(command);
  if (path === undefined) throw new Error(`${command} is needed to run scripts/systemTools.sh`);
  symlinkSync(path, join(bareBin, command));
}
afterAll(() => rmSync(bareBin, { recursive: true, force: true }));

/** A folder whose `curl` is a stand-in (any executable will do for `command -v`). */
const fakeCurlBin = mkdtempSync(join(tmpdir(), "system-tools-curl-"));
symlinkSync(join(bareBin, "bash"), join(fakeCurlBin, "curl"));
afterAll(() => rmSync(fakeCurlBin, { recursive: true, force: true }));

function checkScript(args: string[], searchPath = bareBin) {
  const run = spawnSync(join(bareBin, "bash"), ["scripts/systemTools.sh", "--check", ...args], {
    encoding: "utf8",
    env: { PATH: searchPath },
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("the list of system tools", () => {
  it("names each tool the tests run, with its Debian package", () => {
    expect(SYSTEM_TOOLS.map((tool) => [tool.command, tool.debianPackage])).toEqual([
      ["curl", "curl"],
      ["ssh", "openssh-client"],
      ["ssh-keygen", "openssh-client"],
      ["cloud-init", "cloud-init"],
      ["python3", "python3"],
    ]);
  });

  it("rejects a line that is not three tab-separated columns", () => {
    expect(() => parseToolList("curl curl the probe\n")).toThrow(
      'scripts/systemTools.tsv: expected "command<TAB>package<TAB>what runs it"; got "curl curl the probe"',
    );
  });
});

describe("installCommand", () => {
  it("installs each package once, without recommends", () => {
    expect(installCommand(["ssh", "ssh-keygen", "curl"])).toBe(
      "apt-get install -y --no-install-recommends openssh-client curl",
    );
  });

  it("disables cloud-init before installing it, so that it never configures this machine", () => {
    expect(installCommand(["cloud-init"])).toBe(
      "mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled && apt-get install -y --no-install-recommends cloud-init",
    );
  });

  it("refuses a tool that is not listed, naming those that are", () => {
    expect(() => installCommand(["docker"])).toThrow(
      "docker is not listed in scripts/systemTools.tsv (listed: curl, ssh, ssh-keygen, cloud-init, python3)",
    );
  });
});

describe("a missing tool", () => {
  it("is found missing on a PATH without it", () => {
    expect(missingTools(["ssh", "cloud-init"], bareBin)).toEqual(["ssh", "cloud-init"]);
  });

  it("is named, with the command that installs it, in the skip note and by requireTool", () => {
    const note =
      "needs ssh, not installed (npm test installs it when run as root); " +
      "to install it: apt-get install -y --no-install-recommends openssh-client";
    expect(missingToolsNote(["ssh"])).toBe(note);
    expect(() => requireTool("ssh", bareBin)).toThrow(note);
  });

  it("is reported by scripts/systemTools.sh --check with the same install command, exit 1", () => {
    expect(checkScript(["ssh", "cloud-init"])).toEqual({
      status: 1,
      stdout: "",
      stderr: `systemTools.sh: not installed: ssh cloud-init. To install (Debian, as root): ${installCommand(["ssh", "cloud-init"])}\n`,
    });
    expect(checkScript([]).stderr).toBe(
      `systemTools.sh: not installed: curl ssh ssh-keygen cloud-init python3. To install (Debian, as root): ${installCommand(SYSTEM_TOOLS.map((t) => t.command))}\n`,
    );
  });

  it("is not checked when the script is asked about a tool it does not list", () => {
    expect(checkScript(["docker"])).toEqual({
      status: 2,
      stdout: "",
      stderr:
        "systemTools.sh: docker is not listed in scripts/systemTools.tsv (listed: curl ssh ssh-keygen cloud-init python3)\n",
    });
  });
});

describe("a present tool", () => {
  it("is found with its absolute path, and not reported", () => {
    expect(whichTool("curl", `${bareBin}:${fakeCurlBin}`)).toBe(join(fakeCurlBin, "curl"));
    expect(missingTools(["curl"], `${bareBin}:${fakeCurlBin}`)).toEqual([]);
    expect(checkScript(["curl"], `${bareBin}:${fakeCurlBin}`)).toEqual({ status: 0, stdout: "", stderr: "" });
  });
});
