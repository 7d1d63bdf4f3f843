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
}

export type MockResourceArgsWithOptions = pulumi.runtime.MockResourceArgs & { options?: StepOptions };

interface RegisterRequest {
  getReplaceonchangesList(): string[];
  getIgnorechangesList(): string[];
  getDeletebeforereplace(): boolean;
}

type Monitor = { mocks: pulumi.runtime.Mocks; registerResource(req: RegisterRequest, callback: unknown): unknown };

let installed = false;

/**
 * Makes the mock monitor pass each registration's step options to the mocks' newResource, as
 * `args.options`. For the runner's worker, a process of its own: it patches the process's one monitor
 * class, once.
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
