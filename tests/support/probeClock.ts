/**
 * A virtual clock for verify/probe.sh: the tests drive its clock instead of waiting on it.
 *
 * The probe is run unchanged, with a few bash definitions prepended (the probe's own code, its retry
 * pacing and its deadline arithmetic, runs as it is):
 * - `EPOCHREALTIME` is unset, so the probe's now_ms takes its own fallback, `date +%s%3N`, which is a
 *   function here that reads the virtual time;
 * - `sleep` is a function that moves the virtual time on by what it was asked to sleep, at once;
 * - `curl` runs the real curl with the probe's arguments, except that its two timeouts are kept on the
 *   virtual clock: a request takes no virtual time, and one that never gets an answer ends the way curl
 *   ends it at its --max-time (no output, exit 28) when the test lets that time pass (timeOutCurl).
 * So every announced wait, attempt count and deadline comes out as on a real clock, exactly and on any
 * machine, and no second of it is waited for.
 * The clock lives in a file, not in the probe's memory: curl runs in a pipeline's subshell, which
 * cannot change its parent's variables.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * How long the real curl may take under the virtual clock: the probe's own cap on a request (60 s), far
 * more than any answer from loopback takes, and shorter than the runner's hang guard, so that a hang
 * no test drives still ends, with an error that says so.
 */
const REAL_CURL_BOUND_SECONDS = 60;

/**
 * The time sources the prepended definitions cover are EPOCHREALTIME, `date +%s%3N`, `sleep` and curl's
 * timeouts. A script that read the time or waited any other way would run on the real clock unseen.
 */
const UNCOVERED_TIME_SOURCES: Array<[RegExp, string]> = [
  [/\bEPOCHSECONDS\b/, "EPOCHSECONDS"],
  [/\$\{?SECONDS\b/, "SECONDS"],
  [/\bTMOUT\b/, "TMOUT"],
  [/\bread\b[^\n]*\s-[a-zA-Z]*t/, "read -t"],
  [/(^|[\s;(|&])(timeout|usleep|wait)\s/m, "timeout, usleep or wait"],
  [/%\([^)]*\)T/, "printf's %(...)T"],
  [/\bdate\b(?! \+%s%3N\))/, "date other than $(date +%s%3N)"],
];

export interface VirtualClock {
  /** Bash definitions to run before the probe's own first line. */
  readonly prelude: string;
  /** Milliseconds since the epoch, on the probe's clock. */
  now(): number;
  /**
   * Lets the --max-time of the curl the probe is waiting on pass: the virtual time moves to its end and
   * that curl ends as curl does then (no output, exit 28). Only for a request the test knows will never
   * be answered (a hang it injected): an answered one must not be cut short.
   */
  timeOutCurl(): void;
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

/** The definitions; `dir` holds `now` (the virtual time in ms) and `curl` (the waiting curl: pid and end). */
function prelude(dir: string): string {
  return `# --- the tests' virtual clock (tests/support/probeClock.ts), not part of the probe ---
unset EPOCHREALTIME
vclock_now_file=${shellWord(path.join(dir, "now"))}
vclock_curl_file=${shellWord(path.join(dir, "curl"))}
vclock_fail() { printf 'virtual clock: %s\\n' "$*" >&2; }
date() {
  if [[ $# -ne 1 || $1 != "+%s%3N" ]]; then
    vclock_fail "date $* is not simulated"
    return 1
  fi
  local vclock_now
  read -r vclock_now <"$vclock_now_file"
  printf '%s\\n' "$vclock_now"
}
# Seconds with three decimals ("1.500", as the probe writes them) to milliseconds in vclock_ms.
vclock_to_ms() {
  [[ $1 == +([0-9]).[0-9][0-9][0-9] ]] || return 1
  vclock_ms=$((10#\${1%.*} * 1000 + 10#\${1#*.}))
}
sleep() {
  local vclock_ms vclock_now
  if [[ $# -ne 1 ]] || ! vclock_to_ms "$1"; then
    vclock_fail "sleep $* is not simulated"
    return 1
  fi
  read -r vclock_now <"$vclock_now_file"
  printf '%s\\n' "$((vclock_now + vclock_ms))" >"$vclock_now_file"
}
curl() {
  local vclock_arg vclock_previous="" vclock_ms="" vclock_now vclock_end vclock_rc
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
  read -r vclock_now <"$vclock_now_file"
  vclock_end=$((vclock_now + vclock_ms))
  # The subshell becomes curl (exec), so the pid it writes is curl's.
  (
    printf '%s %s\\n' "$BASHPID" "$vclock_end" >"$vclock_curl_file"
    exec curl "\${vclock_args[@]}"
  )
  vclock_rc=$?
  : >"$vclock_curl_file"
  read -r vclock_now <"$vclock_now_file"
  if ((vclock_now >= vclock_end)); then
    return 28
  fi
  if ((vclock_rc == 28)); then
    vclock_fail "curl timed out on the real clock (${REAL_CURL_BOUND_SECONDS} s): a request that hangs needs the test to call timeOutCurl"
  fi
  return "$vclock_rc"
}
# --- the probe ---
`;
}

/** A clock starting at the real time now; remove() deletes its folder. */
export function startVirtualClock(): VirtualClock {
  const dir = mkdtempSync(path.join(tmpdir(), "probe-clock-"));
  const nowFile = path.join(dir, "now");
  const curlFile = path.join(dir, "curl");
  const setNow = (ms: number) => {
    // Whole or not at all: the probe may read the file at any moment.
    writeFileSync(`${nowFile}.next`, `${ms}\n`);
    renameSync(`${nowFile}.next`, nowFile);
  };
  setNow(Date.now());
  writeFileSync(curlFile, "");
  const now = () => Number(readFileSync(nowFile, "utf8").trim());
  return {
    prelude: prelude(dir),
    now,
    timeOutCurl() {
      const waiting = readFileSync(curlFile, "utf8").trim();
      const match = /^(\d+) (\d+)$/.exec(waiting);
      if (match === null) throw new Error("virtual clock: no curl of the probe's is waiting");
      setNow(Math.max(now(), Number(match[2])));
      process.kill(Number(match[1]), "SIGTERM");
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
