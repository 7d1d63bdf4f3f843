/**
 * ARM's answer and the errors every provider shares. ARM's error body is `{"error": {"code",
 * "message"}}` (Learn, "Resource Manager error codes"); errors that belong to one provider live in
 * that provider's module.
 */

export interface ArmReply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export const armError = (
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
): ArmReply => ({
  status,
  headers,
  body: { error: { code, message } },
});

export function resourceGroupNotFound(resourceGroup: string | undefined): ArmReply {
  return armError(404, "ResourceGroupNotFound", `Resource group '${resourceGroup}' could not be found.`);
}

/**
 * A write into (or onto) a resource group whose delete is running: 409, as Azure/azure-cli#21121 and
 * #28679 quote it.
 */
export function resourceGroupBeingDeleted(resourceGroup: string): ArmReply {
  return armError(
    409,
    "ResourceGroupBeingDeleted",
    `The resource group '${resourceGroup}' is in deprovisioning state and cannot perform this operation.`,
  );
}

export function resourceNotFound(type: string, name: string, resourceGroup: string): ArmReply {
  return armError(
    404,
    "ResourceNotFound",
    `The Resource '${type}/${name}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );
}

/** A collection answers GET with one page, `{"value": [...]}`; any other method is refused. */
export function listReply(method: string, value: unknown[]): ArmReply {
  return method === "GET"
    ? { status: 200, body: { value } }
    : armError(405, "MethodNotAllowed", `${method} is not supported on a collection.`);
}
