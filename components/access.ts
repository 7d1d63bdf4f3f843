import * as authorization from "@pulumi/azure-native/authorization";
import * as pulumi from "@pulumi/pulumi";
import { READER_ROLE_ID, roleAssignmentName, roleDefinitionId } from "./roleAssignment";

export interface ReaderAccessArgs {
  readonly subscriptionId: pulumi.Input<string>;
  /** The resource group's ID: the narrowest scope that lets the identity read its own group. */
  readonly scope: pulumi.Input<string>;
  readonly principalId: pulumi.Input<string>;
}

/** The built-in Reader role for one managed identity, at resource-group scope. */
export class ReaderAccess extends pulumi.ComponentResource {
  public readonly assignmentId: pulumi.Output<string>;

  constructor(name: string, args: ReaderAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vm-identity-access:access:ReaderAccess", name, {}, opts);
    const roleDefinition = pulumi.output(args.subscriptionId).apply((sub) => roleDefinitionId(sub, READER_ROLE_ID));
    const assignment = new authorization.RoleAssignment(
      `${name}-reader`,
      {
        scope: args.scope,
        principalId: args.principalId,
        // The identity is brand new: without the type, ARM looks the principal up in a directory that
        // has not replicated it yet and answers PrincipalNotFound.
        principalType: "ServicePrincipal",
        roleDefinitionId: roleDefinition,
        roleAssignmentName: pulumi
          .all([args.scope, args.principalId, roleDefinition])
          .apply(([scope, principal, role]) => roleAssignmentName(scope, principal, role)),
      },
      { parent: this },
    );
    this.assignmentId = assignment.id;
    this.registerOutputs({ assignmentId: this.assignmentId });
  }
}
