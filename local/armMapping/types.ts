/**
 * What one azure-native v3 resource type sends to ARM and reads back: the shape of the table each
 * file in this folder fills in. The generic conversion lives in `convert.ts`.
 */

/** What the tables need to know about the account that deploys. */
export interface ArmContext {
  subscriptionId: string;
}

/** An item of an inline sub-resource array (NSG security rules, NIC IP configurations, VNet subnets). */
export interface SubResourceArray {
  /** The input/output property holding the array, e.g. "securityRules". */
  readonly property: string;
  /** Keys each item keeps at its own top level in ARM; every other key goes under the item's `properties`. */
  readonly topLevel: readonly string[];
}

export interface ResourceMapping {
  /** The Pulumi type token, e.g. "azure-native:network:VirtualNetwork". */
  readonly type: string;
  /** ARM's resource type as it answers in `type`, e.g. "Microsoft.Network/virtualNetworks". */
  readonly armType: string;
  /** The API version azure-native v3's default module uses for this type. */
  readonly apiVersion: string;
  /** The input that names the resource; when absent, the runner autonames it. */
  readonly nameInput: string;
  /**
   * How azure-native fills an absent name (pulumi-azure-native resources.go AutoName): the logical name
   * plus a random suffix, a fresh GUID, or the logical name as it is (a child under a named parent).
   */
  readonly autoname: "suffix" | "guid" | "copy";
  /** Inputs that are path parameters (the name input included): never part of the body. */
  readonly pathInputs: readonly string[];
  /** Inputs that ARM keeps at the top level of the body; every other input goes under `properties`. */
  readonly topLevel: readonly string[];
  /**
   * Inputs (dotted paths) Azure cannot change in place, beyond the path inputs and `location`, which
   * always force a new resource: a change replaces the resource (azure-native's forceNew).
   */
  readonly forceNew?: readonly string[];
  /** Sub-resource arrays whose items are split into top level and `properties` too. */
  readonly subResources?: readonly SubResourceArray[];
  /**
   * Whether azure-native lifts ARM's `properties` to the top level of its outputs (true for almost
   * every type; ResourceGroup keeps a nested `properties` output).
   */
  readonly flattenProperties: boolean;
  /**
   * Getter arguments that azure-native sends as query parameters (`expand` as `$expand`), by argument
   * name. Only the getter sends them: azure-native reads a resource after writing it without any
   * (pulumi-azure-native provider/pkg/gen/readParams.go).
   */
  readonly getterQuery?: Readonly<Record<string, string>>;
  /** The resource's ARM path (no query) from its inputs and its (possibly generated) name. */
  path(inputs: Record<string, unknown>, name: string, context: ArmContext): string;
  /** A last adjustment of the body where ARM's wire form differs from the SDK's input shape. */
  adjustBody?(body: Record<string, unknown>): Record<string, unknown>;
}

/** The request the runner sends: PUT `path` with `body`. */
export interface ArmRequest {
  /** The path with `?api-version=`. */
  path: string;
  body: Record<string, unknown>;
}
