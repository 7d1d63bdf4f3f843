import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * The Azure CLI tier's venv (tests/azcli/install.sh), brought into a real guest read-only instead of
 * installed in the image or downloaded in the guest, at its host path (a venv names its interpreter by
 * absolute path, in bin/python and pyvenv.cfg). The Python installation it runs on comes in one of two
 * ways. One of its own (pyenv, a python.org build under /opt…) is bound in at its host path too (its
 * interpreter finds libpython through an absolute RUNPATH). The system's (Debian's or Ubuntu's
 * /usr/bin/python3, as on any stock machine) cannot be: its folders are the guest's own system, which
 * binding would hide. For that one, a copy of its interpreter and standard library is made once, in a
 * folder of its own beside the venv, with a venv of its own whose site-packages are the tier's (a
 * symbolic link): CPython finds its standard library from where its interpreter is, so the copy runs
 * anywhere. The guest's own libraries (glibc, OpenSSL, libffi…) serve either.
 */

const INSTALL = join(__dirname, "..", "azcli", "install.sh");
/** The tier's network audit (a sitecustomize loaded through PYTHONPATH), bound in as well. */
export const NET_AUDIT = join(__dirname, "..", "azcli", "netaudit");

export interface HostAzureCli {
  /** The az the guest runs (its shebang names the interpreter), at the same path inside the guest. */
  az: string;
  /** The interpreter az runs on, as the guest sees it. */
  python: string;
  /** The venv whose site-packages hold azure-cli. */
  venv: string;
  /** Folders the guest gets read-only at the same path. */
  binds: string[];
}

/** A copy of the system's interpreter and standard library, for the guest (see above). */
export interface PythonCopy {
  /** The interpreter the venv runs (/usr/bin/python3.11). */
  interpreter: string;
  /** Its standard library (/usr/lib/python3.11). */
  stdlib: string;
  /** major.minor, for the folder names (lib/python3.11). */
  version: string;
  /** Where the copy and its venv go: beside the tier's venv. */
  dir: string;
}

export type GuestPython = { binds: string[] } | { copy: PythonCopy; binds: string[] } | { unusable: string };

/**
 * How the venv's Python gets into the guest, from the venv's pyvenv.cfg (`home = <installation>/bin`,
 * `version = X.Y.Z`): bound at its host path when its installation is outside the guest's own folders,
 * else copied (the system's Python). Pure over what it is given.
 */
export function guestPython(
  venv: string,
  pyvenvCfg: string,
  interpreter: string,
  inImage: (path: string) => boolean,
): GuestPython {
  const home = /^home\s*=\s*(.+)$/m.exec(pyvenvCfg)?.[1]?.trim();
  if (home === undefined || basename(home) !== "bin") {
    return { unusable: `${join(venv, "pyvenv.cfg")} names no interpreter folder (home = <installation>/bin)` };
  }
  const installation = dirname(home);
  if (!interpreter.startsWith(`${installation}/`)) {
    return { unusable: `the venv's python is ${interpreter}, outside its installation ${installation}` };
  }
  for (const folder of [venv, NET_AUDIT]) {
    if (inImage(folder)) {
      return {
        unusable: `${folder} is a folder of the guest's own system too: bound read-only it would hide the guest's`,
      };
    }
  }
  if (!inImage(installation)) return { binds: [venv, installation, NET_AUDIT] };
  const version = /^version(?:_info)?\s*=\s*(\d+\.\d+)/m.exec(pyvenvCfg)?.[1];
  if (version === undefined) return { unusable: `${join(venv, "pyvenv.cfg")} names no version (version = X.Y.Z)` };
  const dir = `${venv}.guest`;
  return {
    copy: { interpreter, stdlib: join(installation, "lib", `python${version}`), version, dir },
    binds: [venv, dir, NET_AUDIT],
  };
}

/**
 * Makes the copy (once: a stamp of the interpreter and the venv says whether the one there is current),
 * in a folder of its own renamed into place, so that a run that stops half-way leaves nothing used.
 * Returns the copy's venv's interpreter.
 */
function makePythonCopy(copy: PythonCopy, venv: string): string {
  const python = join(copy.dir, "venv", "bin", "python");
  const versionOf = spawnSync(copy.interpreter, ["--version"], { encoding: "utf8" });
  const venvStamp = existsSync(join(venv, "stamp")) ? readFileSync(join(venv, "stamp"), "utf8").trim() : "";
  const stamp = `${copy.interpreter} ${versionOf.stdout.trim()} ${venvStamp}\n`;
  const stampFile = join(copy.dir, "stamp");
  if (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) return python;
  const partial = `${copy.dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  const base = join(partial, "base");
  mkdirSync(join(base, "bin"), { recursive: true });
  cpSync(copy.interpreter, join(base, "bin", `python${copy.version}`));
  // The standard library only: site-packages are the tier's venv's.
  cpSync(copy.stdlib, join(base, "lib", `python${copy.version}`), {
    recursive: true,
    verbatimSymlinks: true,
    filter: (source) => !/\/(site|dist)-packages$/.test(source),
  });
  const shim = join(partial, "venv");
  mkdirSync(join(shim, "bin"), { recursive: true });
  mkdirSync(join(shim, "lib", `python${copy.version}`), { recursive: true });
  // Paths as they will be once renamed into place.
  writeFileSync(
    join(shim, "pyvenv.cfg"),
    `home = ${join(copy.dir, "base", "bin")}\ninclude-system-site-packages = false\nversion = ${copy.version}\n`,
  );
  symlinkSync(join(copy.dir, "base", "bin", `python${copy.version}`), join(shim, "bin", "python"));
  symlinkSync(
    join(venv, "lib", `python${copy.version}`, "site-packages"),
    join(shim, "lib", `python${copy.version}`, "site-packages"),
  );
  // The tier's az, on this venv's interpreter (pip writes the interpreter into the script's first line).
  const az = readFileSync(join(venv, "bin", "az"), "utf8").replace(/^#!.*\n/, `#!${python}\n`);
  writeFileSync(join(shim, "bin", "az"), az);
  chmodSync(join(shim, "bin", "az"), 0o755);
  writeFileSync(join(partial, "stamp"), stamp);
  rmSync(copy.dir, { recursive: true, force: true });
  try {
    renameSync(partial, copy.dir);
  } catch (error) {
    // Another test made it meanwhile: that one serves.
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(stampFile)) throw error;
  }
  return python;
}

/**
 * Why an interpreter cannot be copied: it loads libpython from a folder of the system (Fedora's does),
 * which the guest does not have. Null when it stands alone (Debian's and Ubuntu's do).
 */
function needsLibpython(interpreter: string): string | null {
  const ldd = spawnSync("ldd", [interpreter], { encoding: "utf8" });
  const line = ldd.stdout?.split("\n").find((entry) => entry.includes("libpython"));
  return line === undefined ? null : `${interpreter} loads ${line.trim()}, a library of the system's own folders`;
}

/** The tier's venv (installed once per machine, then cached) and what the guest needs to run it, or why it cannot. */
export function hostAzureCli(imageRootfs: string): HostAzureCli | { unusable: string } {
  const install = spawnSync("bash", [INSTALL], { encoding: "utf8" });
  if (install.status !== 0) {
    return { unusable: `tests/azcli/install.sh failed: ${install.stderr.trim().split("\n").pop()}` };
  }
  const az = install.stdout.trim();
  const venv = dirname(dirname(az));
  const interpreter = realpathSync(join(venv, "bin", "python"));
  const found = guestPython(venv, readFileSync(join(venv, "pyvenv.cfg"), "utf8"), interpreter, (path) =>
    existsSync(join(imageRootfs, path)),
  );
  if ("unusable" in found) return found;
  if (!("copy" in found)) return { az, python: interpreter, venv, binds: found.binds };
  const libpython = needsLibpython(interpreter);
  if (libpython !== null) return { unusable: libpython };
  const python = makePythonCopy(found.copy, venv);
  return { az: join(found.copy.dir, "venv", "bin", "az"), python, venv, binds: found.binds };
}
