/**
 * Calls verify/probe.sh's own shell functions (its embedded JSON reader, URL encoding, JSON strings)
 * without running main: the script minus its last line is the library, a snippet of bash the caller.
 */
import { spawnSync } from "node:child_process";
import { probeScript } from "./probeRunner";

const MAIN_CALL = 'main "$@" </dev/null';

export function probeLibrary(): string {
  const script = probeScript();
  const at = script.lastIndexOf(MAIN_CALL);
  if (at < 0) throw new Error(`verify/probe.sh must end with ${MAIN_CALL}`);
  return script.slice(0, at);
}

/** Runs `snippet` after the probe's functions are defined; `input` feeds the snippet's stdin. */
export function runProbeFunctions(
  snippet: string,
  options: { input?: string | Buffer; env?: Record<string, string>; pathPrefix?: string } = {},
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync("bash", ["-c", `${probeLibrary()}\nexport LC_ALL=C\n${snippet}`], {
    input: options.input ?? "",
    env: { PATH: `${options.pathPrefix ?? ""}/usr/local/bin:/usr/bin:/bin`, ...options.env },
    maxBuffer: 16 * 1024 * 1024,
  });
  return { status: result.status, stdout: result.stdout.toString("utf8"), stderr: result.stderr.toString("utf8") };
}

/** What the embedded JSON reader makes of `body`: JSON or text, wanted fields, and the carried form. */
export interface BodyInspection {
  isJson: boolean;
  fields: Array<{ type: string; raw: string; decoded: string }>;
  carried: string;
}

export function inspectBody(body: string | Buffer, want: string[] = [], pathPrefix?: string): BodyInspection {
  // The body travels as stdin into a variable, as curl's output does in the probe.
  const snippet = `body=$(cat; printf x); body=\${body%x}
inspect_body "$body" ${shellWord(want.join(" "))} 1
printf '%s\\n' "$BODY_IS_JSON"
for ((i = 0; i < ${want.length}; i++)); do printf '%s\\t%s\\t%s\\n' "\${FIELD_TYPE[i]}" "\${FIELD_RAW[i]}" "\${FIELD_DEC[i]}"; done
printf '%s' "$BODY_CARRIED"`;
  const { status, stdout, stderr } = runProbeFunctions(snippet, { input: body, pathPrefix });
  if (status !== 0) throw new Error(`inspect_body failed (${status}): ${stderr}`);
  const lines = stdout.split("\n");
  const fields = lines.slice(1, 1 + want.length).map((line) => {
    const [type = "", raw = "", decoded = ""] = line.split("\t");
    return { type, raw, decoded };
  });
  return { isJson: lines[0] === "1", fields, carried: lines.slice(1 + want.length).join("\n") };
}

export function shellWord(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
