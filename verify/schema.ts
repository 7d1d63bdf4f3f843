import { z } from "zod";

/**
 * The shapes `npm run verify` accepts from untrusted input (a stack's outputs, a file, stdin). The
 * probe itself stays `unknown` here: the judge examines it field by field, so hostile or broken
 * evidence yields failed checks rather than a rejected file.
 */

export const expectedSchema = z.object({
  principalId: z.string(),
  clientId: z.string().optional(),
  resourceId: z.string().optional(),
  tenantId: z.string(),
  resourceGroupId: z.string(),
  resource: z.string(),
});

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

/** What `pulumi stack output --json` prints for this program: accessCheck among the others. */
export const stackOutputsSchema = z.object({ accessCheck: accessCheckSchema }).passthrough();

/** A readable account of where an input departs from the schema: path and problem. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "(top level)"}: ${issue.message}`)
    .join("; ");
}
