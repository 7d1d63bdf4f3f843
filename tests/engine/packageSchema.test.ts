import { describe, expect, it } from "vitest";
import { schemaDifferences } from "../../engine/packageSchema";

describe("schemaDifferences: what changed between the committed package schema and the derived one", () => {
  const committed = {
    name: "vm-identity-access",
    resources: {
      "vm-identity-access:index:VmAccessCheck": {
        inputProperties: { vmName: { type: "string" }, deadlineSeconds: { type: "number" } },
        requiredInputs: ["vmName", "ssh"],
      },
    },
  };

  it("finds none in equal schemas, whatever the key order", () => {
    const reordered = JSON.parse(JSON.stringify({ resources: committed.resources, name: committed.name }));
    expect(schemaDifferences(committed, reordered)).toEqual([]);
  });

  it("names an input added, one removed, one retyped and a changed list by their JSON paths", () => {
    const derived = {
      name: "vm-identity-access",
      resources: {
        "vm-identity-access:index:VmAccessCheck": {
          inputProperties: { vmName: { type: "integer" }, timeout: { type: "number" } },
          requiredInputs: ["vmName"],
        },
      },
    };
    const at = '$.resources["vm-identity-access:index:VmAccessCheck"]';
    expect(schemaDifferences(committed, derived)).toEqual([
      `${at}.inputProperties.deadlineSeconds: removed (was {"type":"number"})`,
      `${at}.inputProperties.timeout: added ({"type":"number"})`,
      `${at}.inputProperties.vmName.type: "string" -> "integer"`,
      `${at}.requiredInputs[1]: removed (was "ssh")`,
    ]);
  });

  it("tells an object from a list and a value from nothing", () => {
    expect(schemaDifferences({ a: [1] }, { a: { 0: 1 } })).toEqual(['$.a: [1] -> {"0":1}']);
    expect(schemaDifferences({ a: null }, { a: 0 })).toEqual(["$.a: null -> 0"]);
  });
});
