import type * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";

/**
 * The resource options the engine acts on when it plans a step, which Pulumi's mock monitor does not
 * hand its mocks (it passes only type, name, inputs, provider and ID): the mock runner needs them to
 * decide what the engine would do (local/mocks.ts).
 */
export interface StepOptions {
  /** Input paths whose change replaces the resource (`replaceOnChanges`; "*" for any). */
  replaceOnChanges: string[];
  /** Input paths whose change is ignored: the previous value is kept (`ignoreChanges`). */
  ignoreChanges: string[];
  /** The program asked to delete the old resource before creating its replacement. */
  deleteBeforeReplace: boolean;
  /**
   * The program's `customTimeouts`, in seconds (absent: none given): the engine sends them with the
   * provider's Create and Update requests as their `timeout`, which bounds azure-native's wait.
   */
  customTimeouts?: { create?: number; update?: number };
}

/**
 * A customTimeouts value in seconds, as the engine reads it: Go's time.ParseDuration ("90s", "1h30m",
 * "2.5m"; pulumi/pulumi pkg/resource/deploy/source_eval.go, generateTimeoutInSeconds). Empty: none.
 * The engine refuses anything else with this message.
 */
export function customTimeoutSeconds(value: string): number | undefined {
  if (value === "") return undefined;
  const units: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let seconds = 0;
  let at = 0;
  while (at < value.length) {
    part.lastIndex = at;
    const match = part.exec(value);
    if (!match) throw new Error(`unable to parse customTimeout Value ${value}`);
    seconds += Number(match[1]) * units[match[2]];
    at = part.lastIndex;
  }
  return seconds;
}

export type MockResourceArgsWithOptions = pulumi.runtime.MockResourceArgs & { options?: StepOptions };

interface RegisterRequest {
  getReplaceonchangesList(): string[];
  getIgnorechangesList(): string[];
  getDeletebeforereplace(): boolean;
  getCustomtimeouts(): { getCreate(): string; getUpdate(): string } | undefined;
}

type Monitor = { mocks: pulumi.runtime.Mocks; registerResource(req: RegisterRequest, callback: unknown): unknown };

let installed = false;

/**
 * Makes the mock monitor pass each registration's step options to the mocks' newResource, as
 * `args.options`. For the runner's worker, a process of its own: it patches the process's one monitor
 * class, once. `registerResource` is MockMonitor's own method, not a public API: it is patched as
 * @pulumi/pulumi 3.248.0 has it, which is why package.json pins that exact version (a new one is taken
 * on purpose, with engine/go.mod's CLI), and tests/local-runner/mockOptions.test.ts fails when a
 * version no longer calls it this way.
 */
export function passStepOptionsToMocks(): void {
  if (installed) return;
  installed = true;
  const prototype = MockMonitor.prototype as unknown as Monitor;
  const register = prototype.registerResource;
  prototype.registerResource = function (this: Monitor, req: RegisterRequest, callback: unknown) {
    const options: StepOptions = {
      replaceOnChanges: req.getReplaceonchangesList(),
      ignoreChanges: req.getIgnorechangesList(),
      deleteBeforeReplace: req.getDeletebeforereplace(),
      customTimeouts: {
        create: customTimeoutSeconds(req.getCustomtimeouts()?.getCreate() ?? ""),
        update: customTimeoutSeconds(req.getCustomtimeouts()?.getUpdate() ?? ""),
      },
    };
    const mocks = this.mocks;
    // The same monitor (its resources), seen with mocks that add this registration's options.
    const seen = Object.create(this, {
      mocks: {
        value: {
          newResource: (args: pulumi.runtime.MockResourceArgs) => mocks.newResource({ ...args, options } as never),
          call: (args: pulumi.runtime.MockCallArgs) => mocks.call(args),
        },
      },
    });
    return register.call(seen, req, callback);
  };
}
