import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as pulumi from "@pulumi/pulumi";

export interface UserIdentityArgs {
  readonly resourceGroupName: pulumi.Input<string>;
  readonly location: pulumi.Input<string>;
}

/** The user-assigned managed identity that every VM of the stack shares. */
export class UserIdentity extends pulumi.ComponentResource {
  /** The identity's ARM resource ID (ARM may spell `resourcegroups` in lower case: compare case-insensitively). */
  public readonly resourceId: pulumi.Output<string>;
  public readonly clientId: pulumi.Output<string>;
  public readonly principalId: pulumi.Output<string>;
  public readonly tenantId: pulumi.Output<string>;

  constructor(name: string, args: UserIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vm-identity-access:identity:UserIdentity", name, {}, opts);
    const identity = new managedidentity.UserAssignedIdentity(
      `${name}-uami`,
      { resourceGroupName: args.resourceGroupName, location: args.location },
      { parent: this },
    );
    this.resourceId = identity.id;
    this.clientId = identity.clientId;
    this.principalId = identity.principalId;
    this.tenantId = identity.tenantId;
    this.registerOutputs({ resourceId: this.resourceId, clientId: this.clientId, principalId: this.principalId });
  }
}
