import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { cruise, type ICruiseResult } from "dependency-cruiser";
import { describe, expect, it } from "vitest";
import { createVitest } from "vitest/node";
import { EXCLUDE, IN_OWN_FORK, INCLUDE, OWN_PROCESS, OWN_THREAD, ownProcessProject, SHARED } from "../vitest.config";
import { LONGEST_FIRST } from "./support/longestFirst";
import { sharedThreadHazards } from "./support/testPools";

const root = join(__dirname, "..");

/** The test files vitest finds, by project name, exactly as `npm test` would run them. */
async function filesByProject(options: Parameters<typeof createVitest>[1]): Promise<Record<string, string[]>> {
  const vitest = await createVitest("test", { watch: false, ...options }, {}, {});
  try {
    const byProject: Record<string, string[]> = {};
    for (const spec of await vitest.globTestSpecifications()) {
      const files = byProject[spec.project.name] ?? [];
      files.push(relative(root, spec.moduleId));
      byProject[spec.project.name] = files;
    }
    for (const files of Object.values(byProject)) files.sort();
    return byProject;
  } finally {
    await vitest.close();
  }
}

/** Every module of this repository that `entries` import, directly or not, with the entries themselves. */
async function localModules(entries: string[]): Promise<string[]> {
  const { output } = await cruise(entries, {
    baseDir: root,
    tsPreCompilationDeps: true,
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)node_modules/" },
  });
  return (output as ICruiseResult).modules
    .filter((module) => !module.coreModule && module.source.endsWith(".ts"))
    .map((module) => module.source)
    .sort();
}

/** Each hazard of `modules`, as "<module>: <hazard>". */
function hazardsIn(modules: string[]): string[] {
  return modules.flatMap((module) =>
    sharedThreadHazards(readFileSync(join(root, module), "utf8")).map((hazard) => `${module}: ${hazard}`),
  );
}

describe("the test pools (vitest.config.ts)", () => {
  it("runs every test file exactly once: the shared processes, the own threads and one process for each IN_OWN_FORK file split them", async () => {
    const split = await filesByProject({ config: join(root, "vitest.config.ts") });
    const whole = await filesByProject({ config: false, root, include: INCLUDE, exclude: EXCLUDE });
    expect(Object.keys(split).sort()).toEqual([...IN_OWN_FORK.map(ownProcessProject), OWN_THREAD, SHARED].sort());
    expect(IN_OWN_FORK.filter((file) => !OWN_PROCESS.includes(file))).toEqual([]);
    expect(split[OWN_THREAD]).toEqual(OWN_PROCESS.filter((file) => !IN_OWN_FORK.includes(file)).sort());
    for (const file of IN_OWN_FORK) expect(split[ownProcessProject(file)]).toEqual([file]);
    expect(split[SHARED].length).toBeGreaterThan(OWN_PROCESS.length);
    expect(Object.values(split).flat().sort()).toEqual(Object.values(whole).flat().sort());
  });

  it("gives each OWN_PROCESS file a thread (IN_OWN_FORK: a process) started afresh for it, and the shared files worker processes, not threads", async () => {
    const vitest = await createVitest("test", { watch: false, config: join(root, "vitest.config.ts") }, {}, {});
    try {
      const pools = Object.fromEntries(
        vitest.projects.map(({ name, config }) => [
          name,
          {
            pool: config.pool,
            isolate: config.poolOptions?.forks?.isolate,
            singleFork: config.poolOptions?.forks?.singleFork ?? false,
            threads: config.poolOptions?.threads,
          },
        ]),
      );
      const threads = { isolate: true, maxThreads: 1, minThreads: 1 };
      expect(pools[SHARED]).toEqual({ pool: "forks", isolate: false, singleFork: false, threads });
      expect(pools[OWN_THREAD]).toEqual({ pool: "threads", isolate: false, singleFork: false, threads });
      for (const file of IN_OWN_FORK)
        expect(pools[ownProcessProject(file)]).toEqual({ pool: "forks", isolate: false, singleFork: true, threads });
      // Whatever calls Node's fetch stays out of threads (vitest.config.ts says why).
      const fetching: string[] = [];
      for (const file of OWN_PROCESS) {
        const modules = await localModules([file]);
        if (modules.some((module) => /\bfetch\(/.test(readFileSync(join(root, module), "utf8")))) fetching.push(file);
      }
      expect(fetching).toEqual(IN_OWN_FORK);
      // Fewer workers kept than allowed: the pool would end idle ones mid-run (vitest.config.ts says why).
      const { minForks, maxForks } = vitest.config.poolOptions?.forks ?? {};
      expect(minForks).toBe(maxForks);
    } finally {
      await vitest.close();
    }
  });

  it("starts the longest files first: each one listed is a shared file, run in the processes that run side by side", async () => {
    const split = await filesByProject({ config: join(root, "vitest.config.ts") });
    expect(LONGEST_FIRST.filter((file) => !split[SHARED].includes(file))).toEqual([]);
  });

  it("shares a process only with files that leave nothing behind, through anything they import", async () => {
    const { [SHARED]: shared } = await filesByProject({ config: join(root, "vitest.config.ts") });
    const modules = await localModules(shared);
    // The cruise really followed the imports (else "no hazards" would prove nothing).
    expect(modules).toContain("local-azure/index.ts");
    expect(hazardsIn(modules)).toEqual([]);
  });

  it.each(OWN_PROCESS)("keeps %s out of the shared processes for a hazard it or what it imports has", async (file) => {
    expect(hazardsIn(await localModules([file]))).not.toEqual([]);
  });

  it.each([
    ["await pulumi.runtime.setMocks(mocks)", "sets Pulumi's process-global mock runtime: setMocks("],
    ['pulumi.runtime.setAllConfig({ "a:b": "c" })', "sets Pulumi's process-global config: setAllConfig("],
    ['process.env.AZURE_CLIENT_ID = "x";', "assigns to process.env: process.env.AZURE_CLIENT_ID ="],
    ['process.env["A"] = "x";', 'assigns to process.env: process.env["A"] ='],
    ['Object.assign(process.env, { TZ: "UTC" });', "assigns to process.env: Object.assign(process.env"],
    ["delete process.env.A;", "deletes from process.env: delete process.env"],
    ['vi.stubEnv("A", "x");', "stubs process.env: vi.stubEnv("],
    ['vi.stubGlobal("fetch", fake);', "stubs a global: vi.stubGlobal("],
    ["vi.useFakeTimers();", "fakes timers: vi.useFakeTimers("],
    ['vi.mock("node:fs");', "fakes modules: vi.mock("],
    ['vi.doMock("node:fs", factory);', "fakes modules: vi.doMock("],
    ['process.chdir("/tmp")', "changes the working directory: process.chdir("],
    ['process.on("unhandledRejection", () => {})', 'adds a process-wide handler: process.on("unhandledRejection"'],
    [
      "new ManagedIdentityCredential({ clientId })",
      "uses MSAL's managed identity, whose IMDS source and token cache are process-wide: new ManagedIdentityCredential(",
    ],
  ])("names %s as a hazard", (source, hazard) => {
    expect(sharedThreadHazards(source)).toEqual([hazard]);
  });

  it("passes reads and comparisons of the environment, and an Automation API stack's config (the CLI's, in its file)", () => {
    expect(sharedThreadHazards('const home = process.env.HOME; if (process.env.CI === "true") run();')).toEqual([]);
    expect(sharedThreadHazards("await stack.setAllConfig({ a: { value: 1 } });")).toEqual([]);
  });

  it.each([
    ["afterAll(() => vi.unstubAllEnvs());", 'vi.stubEnv("A", "x");'],
    ["afterEach(() => {\n  vi.unstubAllGlobals();\n});", 'vi.stubGlobal("fetch", fake);'],
    ["afterEach(async () => {\n  await server.close();\n  vi.useRealTimers();\n});", "vi.useFakeTimers();"],
  ])("passes a stub the file undoes when it ends: %s", (hook, stub) => {
    expect(sharedThreadHazards(`${hook}\nit("x", () => {\n  ${stub}\n});\n`)).toEqual([]);
  });

  it.each([
    ["undone by nothing", 'it("x", () => {\n  vi.stubEnv("A", "x");\n});'],
    ["undone in another test", 'it("x", () => vi.stubEnv("A", "x"));\nit("y", () => vi.unstubAllEnvs());'],
    [
      "undone at the end of one describe only",
      'describe("d", () => {\n  afterAll(() => vi.unstubAllEnvs());\n});\nit("x", () => vi.stubEnv("A", "x"));',
    ],
    ["undone by the wrong call", 'afterAll(() => vi.unstubAllGlobals());\nit("x", () => vi.stubEnv("A", "x"));'],
  ])("names a stub %s as a hazard", (_case, source) => {
    expect(sharedThreadHazards(source)).toEqual(["stubs process.env: vi.stubEnv("]);
  });
});
