import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const REPO = join(__dirname, "..", "..");

/** The line of components/network.ts that lets only sshAllowedCidr reach SSH. */
export const SSH_SOURCE_LINE = "sourceAddressPrefix: args.sshAllowedCidr,";

/**
 * A copy of the program (index.ts, components/, verify/) in a temporary folder with one edit a user
 * might make, resolving packages from the repository's node_modules. Returns the copy's index.ts and
 * a function that removes the copy.
 */
export function editedProgram(file: string, from: string, to: string): { programPath: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "edited-program-"));
  for (const part of ["index.ts", "components", "verify"])
    cpSync(join(REPO, part), join(dir, part), { recursive: true });
  symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
  const target = join(dir, file);
  const text = readFileSync(target, "utf8");
  if (!text.includes(from)) throw new Error(`${file} no longer holds ${JSON.stringify(from)}: update the test`);
  writeFileSync(target, text.replace(from, to));
  return { programPath: join(dir, "index.ts"), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The program with the SSH rule of components/network.ts opened to "*", as a new user might try. */
export function programWithSshOpenToAll() {
  return editedProgram("components/network.ts", SSH_SOURCE_LINE, 'sourceAddressPrefix: "*",');
}

/** The line of components/network.ts that gives a NIC a public IP over SSH only. */
export const PUBLIC_IP_LINE = 'const publicIp =\n        access.kind === "ssh"';

/**
 * The program with a public IP on every NIC the program's own network makes, Run Command or not, as a
 * user who wants to reach a private VM might try.
 */
export function programWithPublicIpOnNic() {
  return editedProgram(
    "components/network.ts",
    PUBLIC_IP_LINE,
    'const publicIp =\n        access.kind !== "existingSubnet"',
  );
}
