/**
 * A virtual clock that a test gives Local Azure (faults.clock) or runs verify/probe.sh on, so that the
 * probe's waits and Local Azure's time windows pass without being waited for, and the probe's own
 * code (its retry pacing, its deadline arithmetic) runs unchanged.
 *
 * Its time is kept in a file that bash and Node read alike: one line per move, the largest the time
 * (frozen) or what is added to the real time (running). Moving it on appends a line (a single short
 * write, whole for any reader, with no lock to take), so the time only ever moves forward; two sleeps
 * side by side each move it on from what they read, as sleeps overlap on a real clock.
 * Shells get bash definitions, prepended to a script or sourced through BASH_ENV by every
 * non-interactive bash, nested ones included:
 * - `EPOCHREALTIME` is unset, so the probe's now_ms takes its own fallback, `date +%s%3N`, which is a
 *   function here that reads the clock;
 * - `sleep` is a function that moves the clock on by what it was asked to sleep, at once;
 * - frozen only: `curl` keeps its two timeouts on the clock (see `frozen` below).
 *
 * Two kinds:
 * - frozen (tests/support/probeClock.ts, the probe run alone): the time moves only when the probe
 *   sleeps or the test moves it. A request takes no time; one that never gets an answer ends the way
 *   curl ends it at its --max-time (no output, exit 28) when the test lets that time pass (timeOutCurl).
 *   So every announced wait, attempt count and deadline comes out exactly, on any machine.
 * - running (Local Azure's faults.clock): the real time plus all that was slept. It starts at the real
 *   time, so stamps a kept cloud holds stay comparable; real time still passes (Local Azure's timers,
 *   a request's real duration, curl's own timeouts on it), and sleeps skip ahead. Every VM of a Local
 *   Azure shares it: one VM's sleep moves every VM's time on, as it moves Local Azure's.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * How long the real curl may take under the frozen clock: the probe's own cap on a request (60 s), far
 * more than any answer from loopback takes, and shorter than the runner's hang guard, so that a hang
 * no test drives still ends, with an error that says so.
 */
const REAL_CURL_BOUND_SECONDS = 60;

/**
 * The time sources the definitions cover are EPOCHREALTIME, `date +%s%3N`, `sleep` and (frozen)
 * curl's timeouts. A script that read the time or waited any other way would run on the real clock unseen.
 */
const UNCOVERED_TIME_SOURCES: Array<[RegExp, string]> = [
  [/\bEPOCHSECONDS\b/, "EPOCHSECONDS"],
  [/\$\{?SECONDS\b/, "SECONDS"],
  [/\bTMOUT\b/, "TMOUT"],
  [/\bread\b[^\n]*\s-[a-zA-Z]*t/, "read -t"],
  [/(^|[\s;(|&])(timeout|usleep|wait)\s/m, "timeout, usleep or wait"],
  [/%\([^)]*\)T/, "printf's %(...)T"],
  [/\bdate\b(?! \+%s%3N\))/, "date other than $(date +%s%3N)"],
  // The clock's sleep takes the probe's form only ("1.500"); any other fails at once, and a loop around
  // it would spin instead of waiting. A variable's value is checked when it runs.
  [/\bsleep\s+(?!\d+\.\d{3}(?![\d.])|["$])/, "sleep other than sleep N.NNN"],
];

export interface VirtualClock {
  /** Bash definitions to run before a script's own first line (the same text the BASH_ENV file holds). */
  readonly prelude: string;
  /** A file holding `prelude`, for BASH_ENV: readable by any user (a probe may run as nobody). */
  readonly bashEnv: string;
  /** Milliseconds since the epoch, on this clock. */
  now(): number;
  /** Milliseconds the clock was moved on in all (by sleeps and the test): for a running clock, how far it is ahead of the real time. */
  movedOn(): number;
  /** Moves the clock on by `ms`, as a sleep does. */
  advance(ms: number): void;
  /**
   * Frozen only: lets the --max-time of the curl the probe is waiting on pass: the time moves to its
   * end and that curl ends as curl does then (no output, exit 28). Only for a request the test knows
   * will never be answered (a hang it injected): an answered one must not be cut short.
   */
  timeOutCurl(): void;
  /** Deletes its folder. */
  remove(): void;
}

/** Throws when `script` reads the time or waits in a way the virtual clock does not cover. */
export function checkTimeSources(script: string): void {
  const code = script
    .split("\n")
    .filter((line) => !/^\s*#/.test(line))
    .map((line) => line.replace(/\s#\s.*$/, ""))
    .join("\n");
  const found = UNCOVERED_TIME_SOURCES.filter(([pattern]) => pattern.test(code)).map(([, name]) => name);
  if (found.length > 0) {
    throw new Error(`the virtual clock does not cover what the script uses to read time or wait: ${found.join(", ")}`);
  }
}

function shellWord(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The frozen clock's curl: the real curl with the probe's arguments, its two timeouts kept on the clock
 * (`dir`/curl holds the waiting curl's pid and end, for timeOutCurl).
 */
function frozenCurl(dir: string): string {
  return `vclock_curl_file=${shellWord(path.join(dir, "curl"))}
curl() {
  local vclock_arg vclock_previous="" vclock_ms="" vclock_now vclock_moved vclock_end vclock_rc
  local -a vclock_args=()
  for vclock_arg in "$@"; do
    case $vclock_previous in
    --max-time)
      vclock_to_ms "$vclock_arg" || { vclock_fail "curl --max-time $vclock_arg is not simulated"; return 2; }
      vclock_args+=(${REAL_CURL_BOUND_SECONDS})
      ;;
    --connect-timeout) vclock_args+=(${REAL_CURL_BOUND_SECONDS}) ;;
    *) vclock_args+=("$vclock_arg") ;;
    esac
    vclock_previous=$vclock_arg
  done
  if [[ -z $vclock_ms ]]; then
    vclock_fail "curl without --max-time is not simulated"
    return 2
  fi
  vclock_read
  vclock_end=$((vclock_now + vclock_ms))
  # The subshell becomes curl (exec), so the pid it writes is curl's.
  (
    printf '%s %s\\n' "$BASHPID" "$vclock_end" >"$vclock_curl_file"
    exec curl "\${vclock_args[@]}"
  )
  vclock_rc=$?
  : >"$vclock_curl_file"
  vclock_read
  if ((vclock_now >= vclock_end)); then
    return 28
  fi
  if ((vclock_rc == 28)); then
    vclock_fail "curl timed out on the real clock (${REAL_CURL_BOUND_SECONDS} s): a request that hangs needs the test to call timeOutCurl"
  fi
  return "$vclock_rc"
}
`;
}

/** The definitions; `dir` holds `moves` (one line per move of the clock) and, frozen, `curl`. */
function definitions(dir: string, frozen: boolean): string {
  // The running clock adds the real time; `command date` is the real one, not the function below.
  const time = frozen ? "vclock_now=$vclock_moved" : "vclock_now=$(($(command date +%s%3N) + vclock_moved))";
  return `# --- the tests' virtual clock (local-azure/virtualClock.ts), not part of what runs ---
unset EPOCHREALTIME
vclock_moves_file=${shellWord(path.join(dir, "moves"))}
vclock_fail() { printf 'virtual clock: %s\\n' "$*" >&2; }
# How far the clock was moved (the largest line; a line still being written has no newline yet).
vclock_read_moved() {
  local vclock_line
  vclock_moved=0
  while read -r vclock_line; do
    if ((vclock_line > vclock_moved)); then vclock_moved=$vclock_line; fi
  done <"$vclock_moves_file"
  return 0
}
vclock_read() {
  vclock_read_moved
  ${time}
  return 0
}
date() {
  if [[ $# -ne 1 || $1 != "+%s%3N" ]]; then
    vclock_fail "date $* is not simulated"
    return 1
  fi
  local vclock_now vclock_moved
  vclock_read
  printf '%s\\n' "$vclock_now"
}
# Seconds with three decimals ("1.500", as the probe writes them) to milliseconds in vclock_ms.
vclock_to_ms() {
  [[ $1 == +([0-9]).[0-9][0-9][0-9] ]] || return 1
  vclock_ms=$((10#\${1%.*} * 1000 + 10#\${1#*.}))
}
sleep() {
  local vclock_ms vclock_moved
  if [[ $# -ne 1 ]] || ! vclock_to_ms "$1"; then
    vclock_fail "sleep $* is not simulated"
    return 1
  fi
  vclock_read_moved
  printf '%s\\n' "$((vclock_moved + vclock_ms))" >>"$vclock_moves_file"
}
${frozen ? frozenCurl(dir) : ""}# --- end of the virtual clock ---
`;
}

export interface VirtualClockOptions {
  /**
   * true: the time moves only when moved (the probe run alone, exactly). false (the default): the real
   * time plus what was moved (Local Azure and its guests, where real time still passes).
   */
  frozen?: boolean;
}

/** A clock starting at the real time now; remove() deletes its folder. */
export function startVirtualClock(options: VirtualClockOptions = {}): VirtualClock {
  const frozen = options.frozen ?? false;
  const dir = mkdtempSync(path.join(tmpdir(), "virtual-clock-"));
  // A probe may run as another user (Run Command's nobody): it reads the definitions and moves the clock.
  chmodSync(dir, 0o755);
  const movesFile = path.join(dir, "moves");
  const curlFile = path.join(dir, "curl");
  const bashEnv = path.join(dir, "bash-env");
  const start = frozen ? Date.now() : 0;
  writeFileSync(movesFile, `${start}\n`);
  chmodSync(movesFile, 0o666);
  writeFileSync(curlFile, "");
  chmodSync(curlFile, 0o666);
  const prelude = definitions(dir, frozen);
  writeFileSync(bashEnv, prelude);
  chmodSync(bashEnv, 0o644);
  const moved = () =>
    readFileSync(movesFile, "utf8")
      .split("\n")
      .slice(0, -1)
      .reduce((largest, line) => Math.max(largest, Number(line)), 0);
  const now = () => (frozen ? moved() : Date.now() + moved());
  const moveTo = (total: number) => writeFileSync(movesFile, `${total}\n`, { flag: "a" });
  return {
    prelude,
    bashEnv,
    now,
    movedOn: () => moved() - start,
    advance(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new Error(`virtual clock: advance takes milliseconds >= 0; got ${ms}`);
      moveTo(moved() + ms);
    },
    timeOutCurl() {
      if (!frozen)
        throw new Error("virtual clock: timeOutCurl is for a frozen clock (a running one keeps curl's own timeouts)");
      const waiting = readFileSync(curlFile, "utf8").trim();
      const match = /^(\d+) (\d+)$/.exec(waiting);
      if (match === null) throw new Error("virtual clock: no curl of the probe's is waiting");
      moveTo(Math.max(moved(), Number(match[2])));
      process.kill(Number(match[1]), "SIGTERM");
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
