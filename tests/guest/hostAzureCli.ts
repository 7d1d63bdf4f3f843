import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * The Azure CLI tier's venv (tests/azcli/install.sh), brought into a real guest read-only instead of
 * installed in the image or downloaded in the guest: the venv and the Python installation it runs on,
 * each at its host path (a venv names its interpreter by absolute path, in bin/python and
 * pyvenv.cfg; the interpreter finds libpython through an absolute RUNPATH), so the guest sees the same
 * files at the same places. The guest's own libraries (glibc, OpenSSL, libffi…) serve them.
 */

const INSTALL = join(__dirname, "..", "azcli", "install.sh");
/** The tier's network audit (a sitecustomize loaded through PYTHONPATH), bound in as well. */
export const NET_AUDIT = join(__dirname, "..", "azcli", "netaudit");

export interface HostAzureCli {
  /** The venv's az, at the same path inside the guest. */
  az: string;
  /** Folders the guest gets read-only at the same path: the venv, the Python installation, the audit. */
  binds: string[];
}

/**
 * The folders to bind, from the venv's pyvenv.cfg (`home = <installation>/bin`), or why the venv
 * cannot be used inside a guest: its interpreter must be an installation of its own (pyenv, a
 * python.org build under /opt…), since one in the guest's own folders (Debian's /usr/bin/python3)
 * would shadow the guest's system when bound, or be shadowed by it. Pure over what it is given.
 */
export function guestBinds(
  venv: string,
  pyvenvCfg: string,
  interpreter: string,
  inImage: (path: string) => boolean,
): { binds: string[] } | { unusable: string } {
  const home = /^home\s*=\s*(.+)$/m.exec(pyvenvCfg)?.[1]?.trim();
  if (home === undefined || basename(home) !== "bin") {
    return { unusable: `${join(venv, "pyvenv.cfg")} names no interpreter folder (home = <installation>/bin)` };
  }
  const installation = dirname(home);
  if (!interpreter.startsWith(`${installation}/`)) {
    return { unusable: `the venv's python is ${interpreter}, outside its installation ${installation}` };
  }
  for (const folder of [installation, venv, NET_AUDIT]) {
    if (inImage(folder)) {
      return {
        unusable: `${folder} is a folder of the guest's own system too: bound read-only it would hide the guest's; make the venv with a Python installed elsewhere (AZCLI_PYTHON=… bash tests/azcli/install.sh)`,
      };
    }
  }
  return { binds: [venv, installation, NET_AUDIT] };
}

/** The tier's venv (installed once per machine, then cached) and its binds, or why there is none. */
export function hostAzureCli(imageRootfs: string): HostAzureCli | { unusable: string } {
  const install = spawnSync("bash", [INSTALL], { encoding: "utf8" });
  if (install.status !== 0) {
    return { unusable: `tests/azcli/install.sh failed: ${install.stderr.trim().split("\n").pop()}` };
  }
  const az = install.stdout.trim();
  const venv = dirname(dirname(az));
  const found = guestBinds(
    venv,
    readFileSync(join(venv, "pyvenv.cfg"), "utf8"),
    realpathSync(join(venv, "bin", "python")),
    (path) => existsSync(join(imageRootfs, path)),
  );
  return "binds" in found ? { az, binds: found.binds } : found;
}
