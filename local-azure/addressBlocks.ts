import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The blocks of public IPs (127.77.B.2-251) a process hands out, claimed machine-wide: a real guest's
 * address is this network namespace's (its port 22 sent to the guest by an nftables table), so two
 * Local Azures in two processes must never hand out the same one. A random block per process met
 * another process's now and then when the guest tier ran its files side by side (a VM PUT answered 500,
 * the address already sent elsewhere). A claim is a file named after the block holding the claiming
 * PID; a claim whose process is gone is taken over.
 */

const BLOCKS = 256;

export interface BlockClaims {
  /** The folder of claim files. */
  dir: string;
  pid: number;
  alive: (pid: number) => boolean;
  /** Where the search for a free block starts (spreads processes out). */
  start: number;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function defaultClaims(): BlockClaims {
  return {
    dir: join(tmpdir(), "vm-identity-access-address-blocks"),
    pid: process.pid,
    alive: processAlive,
    start: Math.floor(Math.random() * BLOCKS),
  };
}

/**
 * Claims a block no live process holds, not one of `skip` (this process's own), searching from
 * `claims.start`. Where none can be claimed (every block held, or no folder to claim in) it falls back to
 * the first block not skipped, as unclaimed blocks were before.
 */
export function claimBlock(claims: BlockClaims, skip: readonly number[] = []): number {
  for (let i = 0; i < BLOCKS; i++) {
    const block = (claims.start + i) % BLOCKS;
    if (skip.includes(block)) continue;
    const file = join(claims.dir, String(block));
    try {
      mkdirSync(claims.dir, { recursive: true });
      writeFileSync(file, String(claims.pid), { flag: "wx" });
      return block;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") break;
    }
    let holder: number;
    try {
      holder = Number(readFileSync(file, "utf8"));
    } catch {
      continue;
    }
    if (holder === claims.pid || (Number.isInteger(holder) && holder > 0 && claims.alive(holder))) continue;
    // The holder is gone: one process moves its claim aside (a rename succeeds once), then claims anew.
    try {
      renameSync(file, `${file}.stale-${claims.pid}`);
      rmSync(`${file}.stale-${claims.pid}`, { force: true });
      writeFileSync(file, String(claims.pid), { flag: "wx" });
      return block;
    } catch {}
  }
  for (let i = 0; i < BLOCKS; i++) {
    const block = (claims.start + i) % BLOCKS;
    if (!skip.includes(block)) return block;
  }
  return claims.start;
}
