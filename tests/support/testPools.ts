/**
 * What a test file must not do to share a worker thread with the files before and after it
 * (vitest.config.ts SHARED_THREAD): anything that outlives the file in the process.
 */

export interface Hazard {
  pattern: RegExp;
  why: string;
}

export const SHARED_THREAD_HAZARDS: Hazard[] = [
  { pattern: /\bsetMocks\s*\(/, why: "sets Pulumi's process-global mock runtime" },
  { pattern: /\bsetAllConfig\s*\(/, why: "sets Pulumi's process-global config" },
  { pattern: /\bprocess\.env(\.\w+|\[[^\]]+\])\s*=(?!=)/, why: "assigns to process.env" },
  { pattern: /\bdelete\s+process\.env\b/, why: "deletes from process.env" },
  { pattern: /\bvi\.(useFakeTimers|stubGlobal|stubEnv|mock)\s*\(/, why: "fakes timers, globals, env or modules" },
  { pattern: /\bprocess\.chdir\s*\(/, why: "changes the working directory" },
  {
    pattern: /\bprocess\.(on|once)\(\s*["'](unhandledRejection|uncaughtException|exit|beforeExit)["']/,
    why: "adds a process-wide handler",
  },
];

/** Each hazard in `source`, as "<why>: <the matched text>". */
export function sharedThreadHazards(source: string): string[] {
  return SHARED_THREAD_HAZARDS.flatMap(({ pattern, why }) => {
    const match = pattern.exec(source);
    return match ? [`${why}: ${match[0]}`] : [];
  });
}
