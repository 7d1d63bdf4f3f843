/**
 * The awk implementations present on this machine, each as a PATH prefix whose `awk` is that one:
 * the probe must work with mawk (Debian/Ubuntu's default) and gawk alike.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface AwkVariant {
  name: string;
  /** Prepend to PATH (ends with ":"). */
  pathPrefix: string;
}

const CANDIDATES = ["/usr/bin/mawk", "/usr/bin/gawk"];

/** One variant per installed awk (mawk at least, on this project's machines); remove() cleans up. */
export function awkVariants(): { variants: AwkVariant[]; remove: () => void } {
  const root = mkdtempSync(path.join(tmpdir(), "probe-awks-"));
  const variants = CANDIDATES.filter((binary) => existsSync(binary)).map((binary) => {
    const name = path.basename(binary);
    const dir = path.join(root, name);
    mkdirSync(dir);
    symlinkSync(binary, path.join(dir, "awk"));
    return { name, pathPrefix: `${dir}:` };
  });
  if (variants.length === 0) throw new Error(`no awk found among ${CANDIDATES.join(", ")}`);
  return { variants, remove: () => rmSync(root, { recursive: true, force: true }) };
}
