/**
 * The service's own process (started by `npm run local -- start`, local/service.ts): Local Azure on
 * the kept cloud of the state folder, until SIGTERM or SIGINT. Its stdout and stderr are the log.
 * Arguments: the state folder (absolute), the faults as JSON, then the guests (portable or linux).
 */
import { rmSync, writeFileSync } from "node:fs";
import { type Faults, type GuestKind, LocalAzure, type ServedRequest } from "../local-azure/index";
import { cloudDir } from "./engineStack";
import { removeKept, writeKept } from "./kept";
import { processIdentity } from "./processIdentity";
import { pidFileText, type ServiceMessage, serviceGuestsFile, servicePidFile } from "./service";

/** One log line per answered request: when, which server, method, path and query, status. */
export function requestLogLine(entry: ServedRequest, at = new Date()): string {
  return `${at.toISOString()} ${entry.service} ${entry.method} ${entry.url} ${entry.status}`;
}

async function serve(stateDir: string, faults: Partial<Faults>, guests: GuestKind): Promise<void> {
  const pidFile = servicePidFile(stateDir);
  // Who this process is, so that `stop` signals it and never a process that gets its PID later.
  const identity = processIdentity(process.pid);
  if (identity === null) throw new Error(`cannot read this process's own start time and command line (${process.pid})`);
  // Exclusive: of two services started at once in one folder, the second stops here.
  writeFileSync(pidFile, pidFileText(identity), { flag: "wx" });
  writeFileSync(serviceGuestsFile(stateDir), `${guests}\n`);
  console.log(
    `${new Date().toISOString()} starting Local Azure (pid ${process.pid}, ${guests} guests) on ${cloudDir(stateDir)}`,
  );
  let azure: LocalAzure | null = null;
  const keep = () => azure && writeKept(stateDir, azure, azure.vmIds());
  azure = await LocalAzure.start({
    faults,
    guests,
    persistDir: cloudDir(stateDir),
    onRequest: (entry) => console.log(requestLogLine(entry)),
    // kept.json lists the VMs as they come and go.
    onVmsChanged: () => keep(),
  });
  keep();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${new Date().toISOString()} ${signal}: stopping`);
    // kept.json goes first, so no client is sent to an endpoint that is closing.
    removeKept(stateDir);
    await azure?.stop();
    rmSync(serviceGuestsFile(stateDir), { force: true });
    rmSync(pidFile, { force: true });
    console.log(`${new Date().toISOString()} stopped`);
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  // The shell that started it may close: the service is meant to outlive it.
  process.on("SIGHUP", () => undefined);
  console.log(`${new Date().toISOString()} serving: ARM ${azure.armEndpoint}, Entra ${azure.authorityHost}`);
}

if (require.main === module) {
  const [stateDir, faultsJson, guests] = process.argv.slice(2);
  const send = (message: ServiceMessage) =>
    new Promise<void>((sent) => (process.send ? process.send(message, undefined, undefined, () => sent()) : sent()));
  serve(stateDir, JSON.parse(faultsJson ?? "{}") as Partial<Faults>, guests === "linux" ? "linux" : "portable").then(
    () => send({ kind: "ready" }),
    async (error: Error) => {
      console.error(`${new Date().toISOString()} could not start: ${error.message}`);
      const code = (error as NodeJS.ErrnoException).code;
      await send({
        kind: "failed",
        error:
          code === "EEXIST" ? "another Local Azure service started in this folder at the same time" : error.message,
      });
      // Its own files only: an EEXIST pid file is the other service's.
      if (code !== "EEXIST") {
        rmSync(serviceGuestsFile(stateDir), { force: true });
        rmSync(servicePidFile(stateDir), { force: true });
      }
      process.exit(1);
    },
  );
}
