import { readFileSync } from "node:fs";

/**
 * Where the time of one `npm run local` goes (`--timings`): marks set as the run passes its phases,
 * from the moment `npm run local` itself began (npm and tsx start before this process does, so the
 * runner's own clock, `(4.21 s)`, misses them) to the verdict.
 */

/** A moment of the run: what had just happened, at an epoch time in ms. */
export interface PhaseMark {
  name: string;
  at: number;
}

/** The clock ticks per second of /proc's times (USER_HZ, `getconf CLK_TCK`: 100 on x86 and arm Linux). */
const TICKS_PER_SECOND = 100;

/**
 * When a process started, in epoch ms, from its /proc/PID/stat and /proc/uptime: field 22 of stat is
 * its start in clock ticks since boot (proc(5)); the command name (field 2) may hold spaces and
 * parentheses, so the fields are counted after its last ')'. To 10 ms.
 */
export function processStartedAt(statText: string, uptimeText: string, now: number): number {
  const fields = statText.slice(statText.lastIndexOf(")") + 2).split(" ");
  // Fields from the 3rd on: starttime, the 22nd, is at index 19.
  const startTicks = Number(fields[19]);
  const uptimeSeconds = Number(uptimeText.split(" ")[0]);
  if (!Number.isFinite(startTicks) || !Number.isFinite(uptimeSeconds)) {
    throw new Error(`cannot read a process's start from /proc: ${statText.slice(0, 80)}`);
  }
  return now - (uptimeSeconds - startTicks / TICKS_PER_SECOND) * 1000;
}

/** The parent PID in a /proc/PID/stat (field 4). */
export function parentPidOf(statText: string): number {
  return Number(statText.slice(statText.lastIndexOf(")") + 2).split(" ")[1]);
}

/**
 * Whether a command line (/proc/PID/cmdline, NUL-separated) is one of the launchers before the runner:
 * npm (which retitles itself `npm run local`), the shell it runs the script in (`sh -c tsx
 * local/main.ts`), and tsx, which starts node again with its loader.
 */
export function isLauncher(cmdline: string): boolean {
  const tokens = cmdline.split(/[\0 ]/).filter(Boolean);
  return tokens.some(
    (token) =>
      /(^|\/)(npm|npm-cli\.js|npx|npx-cli\.js|tsx)$/.test(token) ||
      token.endsWith("/tsx/dist/cli.mjs") ||
      token === "local/main.ts" ||
      token === "local/cli.ts",
  );
}

/**
 * When the command that launched this process began: the oldest of its ancestors that are npm, tsx or
 * the shell npm runs the script in (`sh -c tsx local/main.ts`); this process's own start when there is
 * none (run without npm), or where /proc cannot be read (not Linux: this process's start).
 */
export function launchedAt(
  pid = process.pid,
  now = Date.now(),
  read: (path: string) => string = (path) => readFileSync(path, "utf8"),
  processStart = performance.timeOrigin,
): number {
  try {
    const uptime = read("/proc/uptime");
    let earliest = processStart;
    let current = parentPidOf(read(`/proc/${pid}/stat`));
    for (let depth = 0; depth < 6 && current > 1; depth++) {
      if (!isLauncher(read(`/proc/${current}/cmdline`))) break;
      const stat = read(`/proc/${current}/stat`);
      earliest = Math.min(earliest, processStartedAt(stat, uptime, now));
      current = parentPidOf(stat);
    }
    return earliest;
  } catch {
    return processStart;
  }
}

/**
 * The profile `--timings` prints: each mark in order of time, in ms since the launch, with the time
 * since the mark before it (the phase that mark ends). Marks of work running side by side (the worker
 * loading the SDKs while Local Azure starts) interleave as they happened.
 */
export function phaseTable(marks: readonly PhaseMark[], launched: number): string {
  const ordered = [...marks].sort((a, b) => a.at - b.at);
  const width = Math.max(...ordered.map((mark) => mark.name.length), 10);
  const lines = ["Timings (ms since `npm run local` began; +ms since the line before):"];
  let previous = launched;
  for (const mark of ordered) {
    const since = Math.round(mark.at - launched);
    const step = Math.round(mark.at - previous);
    lines.push(`  ${String(since).padStart(6)}  ${mark.name.padEnd(width)}  +${step}`);
    previous = mark.at;
  }
  return lines.join("\n");
}
