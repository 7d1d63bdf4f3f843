import { spawn } from "node:child_process";

/**
 * The tutorials' check, run for real: one token request to IMDS, then one ARM read, no retry
 * (seeds/tutorial-*-identity-linux-vm-arm.md). The token stays in a shell variable and reaches curl
 * on stdin, so it is never printed, logged or visible in a process's argv.
 */

export interface SingleCheck {
  tokenStatus: number;
  readStatus: number;
  succeeded: boolean;
  seconds: number;
}

const SCRIPT = String.raw`
set -u
answer=$(curl -s --noproxy '*' -H Metadata:true -w '\n%{http_code}' "$IMDS/metadata/identity/oauth2/token?api-version=2018-02-01&resource=$RESOURCE_ENCODED$SELECTOR")
token_status=$(printf '%s' "$answer" | tail -n 1)
token=$(printf '%s' "$answer" | sed '$d' | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')
read_status=$(printf 'Authorization: Bearer %s\n' "$token" | curl -s -o /dev/null -w '%{http_code}' -H @- "$ARM/subscriptions/$SUB/resourceGroups/$RG?api-version=2016-09-01")
printf '%s %s\n' "$token_status" "$read_status"
`;

export function runTutorialCheck(opts: {
  imdsEndpoint: string;
  armEndpoint: string;
  caCertPath: string;
  subscriptionId: string;
  resourceGroup: string;
  clientId?: string;
}): Promise<SingleCheck> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", SCRIPT], {
      env: {
        PATH: "/usr/local/bin:/usr/bin:/bin",
        CURL_CA_BUNDLE: opts.caCertPath,
        IMDS: opts.imdsEndpoint,
        ARM: opts.armEndpoint,
        RESOURCE_ENCODED: encodeURIComponent(`${opts.armEndpoint}/`),
        SELECTOR: opts.clientId ? `&client_id=${opts.clientId}` : "",
        SUB: opts.subscriptionId,
        RG: opts.resourceGroup,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.on("error", reject);
    child.on("close", () => {
      const [tokenStatus, readStatus] = stdout.trim().split(" ").map(Number);
      resolve({
        tokenStatus: tokenStatus || 0,
        readStatus: readStatus || 0,
        succeeded: tokenStatus === 200 && readStatus === 200,
        seconds: (performance.now() - started) / 1000,
      });
    });
  });
}
