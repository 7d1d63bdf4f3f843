import { z } from "zod";

/**
 * Runtime shapes for untrusted copies of the contract types (verify/contract.ts): the probe's JSON,
 * and the stack outputs `npm run verify` reads from a stack, a file or stdin. Objects pass unknown
 * fields through (a newer writer may add some); the fields the judge relies on are typed strictly.
 */

const probeErrorSchema = z
  .object({
    stage: z.enum(["input", "imds", "arm"]),
    status: z.number().int().nullable(),
    code: z.string().nullable(),
    message: z.string(),
  })
  .passthrough();

/** One carried ARM answer: its status, how many tries, and the body (parsed JSON or raw text). */
const armAnswerSchema = z
  .object({ status: z.number().int().nullable(), attempts: z.number().int().nonnegative(), body: z.unknown() })
  .passthrough();

/**
 * Probe contract v1, as the probe prints it. The selector stays a string here: the judge's
 * identity-selector check says which one was expected, which reads better than an enum error.
 */
export const probeResultV1Schema = z
  .object({
    probeVersion: z.literal(1),
    ok: z.boolean(),
    identity: z.object({ selector: z.string(), value: z.string().nullable() }).passthrough(),
    target: z
      .object({
        subscriptionId: z.string().nullable(),
        resourceGroup: z.string().nullable(),
        armEndpoint: z.string(),
        resource: z.string(),
      })
      .passthrough(),
    token: z
      .object({
        status: z.number().int().nullable(),
        attempts: z.number().int().nonnegative(),
        expiresOn: z.string().nullable(),
        claims: z.record(z.unknown()).nullable(),
      })
      .passthrough()
      .nullable(),
    resourceGroup: armAnswerSchema.nullable(),
    permissions: armAnswerSchema.extend({ attempts: z.number().int().nonnegative().optional() }).nullable(),
    elapsedSeconds: z.number().nonnegative(),
    error: probeErrorSchema.nullable(),
  })
  .passthrough();

export const expectedSchema = z.object({
  principalId: z.string(),
  clientId: z.string().optional(),
  resourceId: z.string().optional(),
  tenantId: z.string(),
  resourceGroupId: z.string(),
  resource: z.string(),
  selector: z.enum(["object_id", "msi_res_id"]).optional(),
  readOnly: z.literal(false).optional(),
  refusedActions: z.array(z.string()).optional(),
});

/**
 * One stored result. The probe stays `unknown` and the stored checks and verdict are not trusted:
 * `npm run verify` re-judges from `expected` and `probe`, so broken evidence yields failed checks
 * rather than a rejected file.
 */
export const accessCheckResultSchema = z
  .object({
    vm: z.string(),
    identity: z.enum(["user", "system"]),
    expected: expectedSchema,
    probe: z.unknown(),
    checks: z.array(z.unknown()).optional(),
    verified: z.boolean().optional(),
  })
  .passthrough();

export const accessCheckSchema = z
  .object({
    verified: z.boolean().optional(),
    expectation: z.enum(["granted", "denied"]),
    results: z.array(accessCheckResultSchema),
  })
  .passthrough();

/**
 * What `pulumi stack output --json` prints for this program (DESIGN.md "Output contract"). Only
 * accessCheck is required (a failed or partial deployment may lack the others); the others are
 * typed when present. Secrets print as "[secret]".
 */
export const stackOutputsSchema = z
  .object({
    accessCheck: accessCheckSchema,
    resourceGroupName: z.string().optional(),
    resourceGroupId: z.string().optional(),
    identity: z
      .object({ clientId: z.string(), principalId: z.string(), resourceId: z.string() })
      .passthrough()
      .nullable()
      .optional(),
    // Over SSH every VM has a public IP and an SSH command; through Run Command none has either (DESIGN.md
    // "Output contract").
    vms: z
      .array(
        z
          .object({ name: z.string(), publicIp: z.string().optional(), sshCommand: z.string().optional() })
          .passthrough()
          .refine((vm) => (vm.publicIp === undefined) === (vm.sshCommand === undefined), {
            message: "publicIp and sshCommand come together (a check over SSH) or not at all (through Run Command)",
          }),
      )
      .refine((vms) => new Set(vms.map((vm) => vm.publicIp === undefined)).size <= 1, {
        message: "every VM has publicIp and sshCommand (a check over SSH), or none has (through Run Command)",
      })
      .optional(),
    sshPrivateKey: z.string().optional(),
  })
  .passthrough();

export type StackOutputs = z.infer<typeof stackOutputsSchema>;

/** A readable account of where an input departs from a schema: each field's path and problem. */
export function describeZodError(error: z.ZodError, maxIssues = 5): string {
  const issues = error.issues.slice(0, maxIssues).map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
    return `${path}: ${issue.message}`;
  });
  const more = error.issues.length - maxIssues;
  return more > 0 ? `${issues.join("; ")}; and ${more} more` : issues.join("; ");
}
