import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * A clock for one probe run that skips the probe's waits instead of sleeping them: `sleep S` moves the
 * probe's clock S seconds on at once, and `date +%s%3N` (how probe.sh reads the time where bash has no
 * EPOCHREALTIME) answers the real time plus every wait skipped so far. The probe's pacing is its own and
 * unchanged: the same backoff and Retry-After waits announced, the same deadline reached after the same
 * attempts, the same verdict; only the seconds between attempts are not spent.
 *
 * Only for runs whose other side keeps no clock of its own that the skipped seconds would have moved:
 * a fault window in Local Azure that ends after real seconds would stay open across a skipped wait, so
 * the matrix ends its windows on events (cases.ts, windowShutAfter) or counts requests.
 */

export interface WarpedProbeClock {
  /** Prepend to the probe's PATH: the `sleep` and `date` of this clock. */
  pathPrefix: string;
  /** The probe's script as the run gets it: bash's own real-time clock unset, so the probe asks `date`. */
  script(probeScript: string): string;
  /** Milliseconds of waiting skipped so far. */
  skippedMs(): number;
  remove(): void;
}

const SLEEP = `#!/bin/bash
# The probe's waits, skipped: the clock moves on by the wait at once.
if [[ $# -eq 1 && $1 =~ ^([0-9]+)(\\.([0-9]{1,3}))?$ ]]; then
  frac=\${BASH_REMATCH[3]}000
  ms=$((10#\${BASH_REMATCH[1]} * 1000 + 10#\${frac:0:3}))
  skipped=$(<"$WARP_FILE")
  printf '%d\\n' $((skipped + ms)) >"$WARP_FILE"
  exit 0
fi
printf 'warped sleep: cannot skip "%s"\\n' "$*" >&2
exit 2
`;

const DATE = `#!/bin/bash
# The real time plus the waits skipped, for the one form the probe asks for; any other form as date gives it.
if [[ $# -eq 1 && $1 == +%s%3N ]]; then
  [[ $EPOCHREALTIME =~ ^([0-9]+)[.,]([0-9]{3}) ]] || exit 2
  skipped=$(<"$WARP_FILE")
  printf '%d\\n' $((10#\${BASH_REMATCH[1]} * 1000 + 10#\${BASH_REMATCH[2]} + skipped))
  exit 0
fi
exec "$REAL_DATE" "$@"
`;

export function warpedProbeClock(): WarpedProbeClock {
  const dir = mkdtempSync(path.join(tmpdir(), "probe-clock-"));
  const file = path.join(dir, "skipped-ms");
  writeFileSync(file, "0\n");
  const bin = path.join(dir, "bin");
  const realDate = ["/usr/bin/date", "/bin/date"].find((candidate) => existsSync(candidate)) ?? "/bin/date";
  const header = `WARP_FILE='${file}'\nREAL_DATE='${realDate}'\n`;
  mkdirSync(bin);
  for (const [name, body] of [
    ["sleep", SLEEP],
    ["date", DATE],
  ] as const) {
    writeFileSync(path.join(bin, name), body.replace("\n", `\n${header}`), { mode: 0o755 });
  }
  return {
    pathPrefix: `${bin}:`,
    script: (probeScript) => `unset EPOCHREALTIME\n${probeScript}`,
    skippedMs: () => Number(readFileSync(file, "utf8")),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
