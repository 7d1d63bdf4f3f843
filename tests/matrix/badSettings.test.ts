import { describe, expect, it } from "vitest";
import { BAD_SETTING_CASES, badSettingProblems } from "./cases";
import { settingsErrorOf } from "./settingsHarness";

/** Bad settings: each must be refused with a message naming the key, the value and what is allowed. */

describe("bad settings (parseSettings)", () => {
  it("tries at least fifteen different bad settings", () => {
    expect(new Set(BAD_SETTING_CASES.map((row) => row.id)).size).toBeGreaterThanOrEqual(15);
  });

  it.each(BAD_SETTING_CASES.map((row) => [row.id, row] as const))("%s", (_id, row) => {
    const message = settingsErrorOf(row);
    expect(badSettingProblems(row, message)).toEqual([]);
  });

  it("reports every bad setting at once, not only the first", () => {
    const message = settingsErrorOf({
      id: "several",
      raw: { vmCount: "0", grantAccess: "maybe", sshPort: "70000" },
      names: "",
      allowed: "",
    });
    expect(message).toContain("3 settings are invalid");
    for (const key of ["vmCount", "grantAccess", "sshPort"]) expect(message).toContain(`vm-identity-access:${key}`);
  });
});

describe("badSettingProblems", () => {
  const row = BAD_SETTING_CASES[0];

  it("flags an accepted setting", () => {
    expect(badSettingProblems(row, null)).toEqual(["accepted: no error at all"]);
  });

  it("flags a vague message and a stack trace", () => {
    expect(badSettingProblems(row, "invalid configuration\n    at parse (settings.ts:1:2)")).toEqual([
      "does not name vm-identity-access:identity",
      'does not quote the value "users"',
      'does not say what is allowed ("user, system, both")',
      "carries a stack trace",
    ]);
  });
});
