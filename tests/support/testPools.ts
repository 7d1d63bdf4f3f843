import * as ts from "typescript";

/**
 * What a test file must not do to share a worker process with the files before and after it
 * (vitest.config.ts: every file not in OWN_PROCESS): anything that outlives the file in the process.
 */

export interface Hazard {
  pattern: RegExp;
  why: string;
  /**
   * The vi call that undoes it all, where there is one. Made in a hook the module itself registers at
   * its top level (afterEach or afterAll of the whole file, not of one describe), it runs before the
   * next file starts, so what the hazard changed is provably put back. Vitest's own unstubEnvs and
   * unstubGlobals options undo stubs only before each test: the last test's stubs would still be there
   * while the next file loads and runs its beforeAll.
   */
  undoneBy?: string;
}

export const SHARED_THREAD_HAZARDS: Hazard[] = [
  { pattern: /\bsetMocks\s*\(/, why: "sets Pulumi's process-global mock runtime" },
  // An Automation API stack's setAllConfig runs `pulumi config set-all`: the stack's file, not this process.
  { pattern: /(?<!\bstack\.)\bsetAllConfig\s*\(/, why: "sets Pulumi's process-global config" },
  { pattern: /\bprocess\.env(\.\w+|\[[^\]]+\])\s*=(?!=)/, why: "assigns to process.env" },
  { pattern: /\bdelete\s+process\.env\b/, why: "deletes from process.env" },
  { pattern: /\bObject\.assign\(\s*process\.env\b/, why: "assigns to process.env" },
  { pattern: /\bvi\.stubEnv\s*\(/, why: "stubs process.env", undoneBy: "vi.unstubAllEnvs" },
  { pattern: /\bvi\.stubGlobal\s*\(/, why: "stubs a global", undoneBy: "vi.unstubAllGlobals" },
  { pattern: /\bvi\.useFakeTimers\s*\(/, why: "fakes timers", undoneBy: "vi.useRealTimers" },
  { pattern: /\bvi\.(mock|doMock)\s*\(/, why: "fakes modules" },
  { pattern: /\bprocess\.chdir\s*\(/, why: "changes the working directory" },
  {
    pattern: /\bprocess\.(on|once)\(\s*["'](unhandledRejection|uncaughtException|exit|beforeExit)["']/,
    why: "adds a process-wide handler",
  },
  {
    pattern: /\bnew\s+ManagedIdentityCredential\s*\(/,
    why: "uses MSAL's managed identity, whose IMDS source and token cache are process-wide",
  },
];

const FILE_END_HOOKS = new Set(["afterEach", "afterAll"]);

/** The calls (as written, e.g. "vi.unstubAllEnvs") made inside afterEach or afterAll hooks registered at the module's top level. */
export function callsInFileEndHooks(source: string): Set<string> {
  const file = ts.createSourceFile("module.ts", source, ts.ScriptTarget.Latest, true);
  const calls = new Set<string>();
  const collect = (node: ts.Node) => {
    if (ts.isCallExpression(node)) calls.add(node.expression.getText(file));
    ts.forEachChild(node, collect);
  };
  for (const statement of file.statements) {
    if (!ts.isExpressionStatement(statement) || !ts.isCallExpression(statement.expression)) continue;
    const hook = statement.expression;
    if (FILE_END_HOOKS.has(hook.expression.getText(file))) hook.arguments.forEach(collect);
  }
  return calls;
}

/** Each hazard in `source` that it does not undo when the file ends, as "<why>: <the matched text>". */
export function sharedThreadHazards(source: string): string[] {
  let undone: Set<string> | undefined;
  return SHARED_THREAD_HAZARDS.flatMap(({ pattern, why, undoneBy }) => {
    const match = pattern.exec(source);
    if (!match) return [];
    undone ??= undoneBy ? callsInFileEndHooks(source) : undefined;
    if (undoneBy && undone?.has(undoneBy)) return [];
    return [`${why}: ${match[0]}`];
  });
}
