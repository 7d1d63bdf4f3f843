import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type BlockClaims, claimBlock } from "../../local-azure/addressBlocks";

/** Public IP blocks are claimed machine-wide, so two processes' Local Azures never share a guest's address. */

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function claims(pid: number, alive: number[], start = 7): BlockClaims {
  const dir = dirs[0] ?? mkdtempSync(join(tmpdir(), "address-blocks-"));
  if (dirs.length === 0) dirs.push(dir);
  return { dir, pid, alive: (other) => alive.includes(other), start };
}

describe("claiming a block of public IPs", () => {
  it("gives two live processes starting at the same block two blocks, each recorded with its PID", () => {
    expect(claimBlock(claims(100, [100, 200]))).toBe(7);
    expect(claimBlock(claims(200, [100, 200]))).toBe(8);
    expect(readFileSync(join(dirs[0], "7"), "utf8")).toBe("100");
    expect(readFileSync(join(dirs[0], "8"), "utf8")).toBe("200");
  });

  it("never hands a process a block it already holds, so its next 250 addresses go to a block of their own", () => {
    const mine = claims(100, [100]);
    const first = claimBlock(mine);
    expect(claimBlock(mine, [first])).toBe(8);
  });

  it("takes over the claim of a process that is gone, and leaves nothing but the claims behind", () => {
    expect(claimBlock(claims(100, [100]))).toBe(7);
    expect(claimBlock(claims(300, [300]))).toBe(7);
    expect(readFileSync(join(dirs[0], "7"), "utf8")).toBe("300");
    expect(readdirSync(dirs[0])).toEqual(["7"]);
  });

  it("skips a claim it cannot read as a PID only if a live process holds it", () => {
    const c = claims(100, [100]);
    writeFileSync(join(c.dir, "7"), "not a pid");
    expect(claimBlock(c)).toBe(7);
  });

  it("falls back to the first block it does not hold when it cannot claim at all", () => {
    const c = { ...claims(100, [100]), dir: "/dev/null/no-folder-here" };
    expect(claimBlock(c, [7])).toBe(8);
  });
});
