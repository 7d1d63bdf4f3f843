import * as pulumi from "@pulumi/pulumi";

/**
 * One field of an Input object. Given as a plain object, the field keeps its own secretness (a secret
 * private key does not make the host secret); given as an Output, the field is read from it.
 */
export function field(input: pulumi.Input<object>, key: string): pulumi.Output<unknown> {
  if (pulumi.Output.isInstance(input) || input instanceof Promise) {
    const whole = pulumi.output(input) as pulumi.Output<Record<string, unknown> | undefined>;
    return whole.apply((value) => value?.[key]);
  }
  return pulumi.output((input as Record<string, pulumi.Input<unknown>>)[key]);
}

/** Whether an optional argument was given (an Output counts, whatever it resolves to). */
export function given(input: unknown): boolean {
  return input !== undefined && input !== null;
}
