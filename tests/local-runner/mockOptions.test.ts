import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import {
  customTimeoutSeconds,
  type MockResourceArgsWithOptions,
  passStepOptionsToMocks,
} from "../../local/mockOptions";
import { LocalAzureMocks, type StateEntry, stateKey } from "../../local/mocks";
import {
  changedPaths,
  parsePropertyPath,
  pathContains,
  withIgnoredChanges,
  withReplaceOnChanges,
} from "../../local/resourcePlan";
import type { RunRemoteCommandOptions } from "../../local/sshExec";
import { fakeArm } from "./fakeArm";

/**
 * The resource options the engine plans a step with (replaceOnChanges, ignoreChanges,
 * deleteBeforeReplace) reach the runner's mocks, which Pulumi's mock monitor alone does not do, and the
 * mocks act on them as the engine does.
 */

describe("step options through Pulumi's mock runtime", () => {
  it("hands each registration's replaceOnChanges, ignoreChanges and deleteBeforeReplace to newResource", async () => {
    const seen: MockResourceArgsWithOptions[] = [];
    passStepOptionsToMocks();
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          seen.push(args as MockResourceArgsWithOptions);
          return { id: `${args.name}-id`, state: args.inputs };
        },
        call: () => ({}),
      },
      "vm-identity-access",
      "local",
      false,
    );
    const probe = new command.remote.Command(
      "probe",
      { connection: { host: "127.0.0.1" }, create: "true" },
      {
        replaceOnChanges: ["create"],
        ignoreChanges: ["stdin"],
        deleteBeforeReplace: true,
        customTimeouts: { create: "1h30m", update: "90s" },
      },
    );
    await new Promise<void>((resolve) => probe.id.apply(() => resolve()));
    const [registered] = seen;
    expect(registered.options?.customTimeouts).toEqual({ create: 5400, update: 90 });
    expect(registered.type).toBe("command:remote:Command");
    // The SDK adds its own replaceOnChanges (triggers[*]) to the program's.
    expect(registered.options?.replaceOnChanges).toEqual(expect.arrayContaining(["create", "triggers[*]"]));
    expect(registered.options?.ignoreChanges).toEqual(["stdin"]);
    expect(registered.options?.deleteBeforeReplace).toBe(true);
  });
});

describe("the @pulumi/pulumi the monitor patch is written for", () => {
  it("is pinned exactly in package.json, to the version the lock file installs", () => {
    const root = join(__dirname, "..", "..");
    const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8"));
    expect(manifest.dependencies["@pulumi/pulumi"]).toBe(lock.packages["node_modules/@pulumi/pulumi"].version);
  });
});

describe("the mocks act on the step options as the engine does", () => {
  const inputs = { connection: { host: "127.0.0.1" }, create: "echo one", stdin: "a" };
  async function firstRun() {
    const mocks = new LocalAzureMocks(optionsFor([], []));
    await mocks.newResource({ type: "command:remote:Command", name: "c", inputs });
    return mocks.resources;
  }
  function optionsFor(previous: StateEntry[], commands: RunRemoteCommandOptions[]) {
    return {
      arm: fakeArm(),
      subscriptionId: "s",
      tenantId: "t",
      deployer: { principalId: "d", clientId: "c" },
      defaultLocation: "eastus",
      runStart: 0,
      previous: Object.fromEntries(previous.map((entry) => [stateKey(entry.type, entry.name), entry])),
      previousLive: true,
      runRemoteCommand: async (opts: RunRemoteCommandOptions) => {
        commands.push(opts);
        return { stdout: "out", stderr: "", exitCode: 0, dials: 1 };
      },
      generatePrivateKey: () => {
        throw new Error("no keys");
      },
    };
  }

  it("replaceOnChanges turns an update into a replacement: create runs on a new command", async () => {
    const commands: RunRemoteCommandOptions[] = [];
    const mocks = new LocalAzureMocks(optionsFor(await firstRun(), commands));
    const args: MockResourceArgsWithOptions = {
      type: "command:remote:Command",
      name: "c",
      inputs: { ...inputs, create: "echo two" },
      options: { replaceOnChanges: ["create"], ignoreChanges: [], deleteBeforeReplace: false },
    };
    await mocks.newResource(args);
    expect(mocks.timeline[0].operation).toBe("replace");
    expect(commands.map((c) => c.command)).toEqual(["echo two"]);
  });

  it("ignoreChanges keeps the previous value: a change there alone runs nothing", async () => {
    const commands: RunRemoteCommandOptions[] = [];
    const mocks = new LocalAzureMocks(optionsFor(await firstRun(), commands));
    const result = await mocks.newResource({
      type: "command:remote:Command",
      name: "c",
      inputs: { ...inputs, stdin: "b" },
      options: { replaceOnChanges: [], ignoreChanges: ["stdin"], deleteBeforeReplace: false },
    } as MockResourceArgsWithOptions);
    expect(mocks.timeline[0].operation).toBe("same");
    expect(commands).toEqual([]);
    expect(result.state.stdin).toBe("a");
  });

  it("pure: replaceOnChanges by path (at or below it) or *, ignoreChanges along a dotted path, secrets left as given", () => {
    const previous = { inputs: { a: 1, b: { c: 2, d: 3 }, s: "[secret]" } };
    expect(withReplaceOnChanges("update", previous, { a: 2, b: { c: 2, d: 3 } }, ["a"])).toBe("replace");
    expect(withReplaceOnChanges("update", previous, { a: 2, b: { c: 2, d: 3 } }, ["b.c"])).toBe("update");
    expect(withReplaceOnChanges("update", previous, { a: 2, b: { c: 2, d: 3 } }, ["*"])).toBe("replace");
    expect(withReplaceOnChanges("same", previous, { a: 1 }, ["*"])).toBe("same");
    // A nested path replaces on a change at or below it, not beside it (the engine's PropertyPath.Contains).
    expect(withReplaceOnChanges("update", previous, { a: 1, b: { c: 2, d: 4 } }, ["b.c"])).toBe("update");
    expect(withReplaceOnChanges("update", previous, { a: 1, b: { c: 5, d: 3 } }, ["b.c"])).toBe("replace");
    expect(withReplaceOnChanges("update", previous, { a: 1, b: { c: 2, d: 4 } }, ["b"])).toBe("replace");
    expect(withReplaceOnChanges("update", previous, { a: 1, b: { c: 2, d: 4 } }, ["*.d"])).toBe("replace");
    expect(withIgnoredChanges({ a: 9, b: { c: 9, d: 9 }, s: "new" }, previous, ["b.c", "s"])).toEqual({
      a: 9,
      b: { c: 2, d: 9 },
      s: "new",
    });
  });
});

describe("customTimeouts", () => {
  it("reads as the engine reads them (Go's time.ParseDuration), and refuses what it refuses", () => {
    expect(customTimeoutSeconds("")).toBeUndefined();
    expect(customTimeoutSeconds("90s")).toBe(90);
    expect(customTimeoutSeconds("1h30m")).toBe(5400);
    expect(customTimeoutSeconds("2.5m")).toBe(150);
    expect(customTimeoutSeconds("1500ms")).toBe(1.5);
    for (const bad of ["10", "10 m", "m", "1d", "-5m"]) {
      expect(() => customTimeoutSeconds(bad)).toThrow(`unable to parse customTimeout Value ${bad}`);
    }
  });

  it("bound the mocks' wait for a long-running create, as the request's timeout bounds azure-native's", async () => {
    const operation = "https://arm.invalid/operationStatuses/1";
    const arm = fakeArm();
    const group = { id: "/subscriptions/s/resourceGroups/rg", name: "rg", location: "eastus", properties: {} };
    // A PUT whose operation never ends.
    arm.request = async (method, path): Promise<{ status: number; headers: Record<string, string>; body: unknown }> => {
      if (method === "PUT") return { status: 201, headers: { "azure-asyncoperation": operation }, body: group };
      return { status: 200, headers: {}, body: path === operation ? { status: "InProgress" } : group };
    };
    const mocks = new LocalAzureMocks({
      arm,
      subscriptionId: "s",
      tenantId: "t",
      deployer: { principalId: "d", clientId: "c" },
      defaultLocation: "eastus",
      runStart: 0,
      runRemoteCommand: async () => ({ stdout: "", stderr: "", exitCode: 0, dials: 1 }),
      generatePrivateKey: () => {
        throw new Error("no keys");
      },
    });
    await expect(
      mocks.newResource({
        type: "azure-native:resources:ResourceGroup",
        name: "rg",
        inputs: { resourceGroupName: "rg" },
        options: {
          replaceOnChanges: [],
          ignoreChanges: [],
          deleteBeforeReplace: false,
          customTimeouts: { create: 0.001 },
        },
      } as MockResourceArgsWithOptions),
    ).rejects.toThrow(
      'creating azure-native:resources:ResourceGroup rg: Status=0 Code="OperationTimedOut" Message="operation timed out: the operation on /subscriptions/s/resourcegroups/rg did not finish within 0.001 s"',
    );
  });
});

describe("property paths, as the engine reads replaceOnChanges", () => {
  it("parses keys, indices, [*] and quoted keys, and refuses what it cannot read", () => {
    expect(parsePropertyPath("a.b[0].c")).toEqual(["a", "b", 0, "c"]);
    expect(parsePropertyPath("triggers[*]")).toEqual(["triggers", "*"]);
    expect(parsePropertyPath('tags["a.b]c"].x')).toEqual(["tags", "a.b]c", "x"]);
    expect(parsePropertyPath("*")).toEqual(["*"]);
    for (const bad of ["", "a..b", "a[", "a[x]", "[0"]) {
      expect(() => parsePropertyPath(bad)).toThrow(`invalid property path ${JSON.stringify(bad)}`);
    }
  });

  it("contains the paths at or below it, * matching any one key or index", () => {
    expect(pathContains(["b", "c"], ["b", "c"])).toBe(true);
    expect(pathContains(["b", "c"], ["b", "c", 0])).toBe(true);
    expect(pathContains(["b", "c"], ["b", "d"])).toBe(false);
    expect(pathContains(["b", "c"], ["b"])).toBe(false);
    expect(pathContains(["triggers", "*"], ["triggers", 2])).toBe(true);
  });

  it("a change is named as deep as both sides hold objects or arrays, secrets by fingerprint", () => {
    const previous = { inputs: { a: [1, 2], b: { c: 2 }, s: "[secret]" }, secretDigests: { '["s"]': "sha256:x" } };
    expect(
      changedPaths(previous, {
        a: [1, 3, 4],
        b: { c: 2, e: 1 },
        s: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: "new" },
      }),
    ).toEqual([["a", 1], ["a", 2], ["b", "e"], ["s"]]);
  });
});
