import * as network from "@pulumi/azure-native/network";
import type * as types from "@pulumi/azure-native/types";
import * as pulumi from "@pulumi/pulumi";

/**
 * How the VMs are reached, which decides what network the program makes:
 * - ssh: a VNet and subnet, an NSG that admits SSH from one CIDR only, a Standard static public IP per VM;
 * - natGateway (accessCheckVia runCommand): the same VNet and subnet, no public IP on any NIC, an NSG with
 *   no inbound allow rule at all, and explicit egress through a NAT gateway with its own public IP;
 * - existingSubnet (runCommand with subnetId): only the NICs, in a subnet the user owns with its egress.
 */
export type NetworkAccess =
  | { kind: "ssh"; sshAllowedCidr: string; sshPort?: number }
  | { kind: "natGateway" }
  | { kind: "existingSubnet"; subnetId: string };

export interface NetworkArgs {
  readonly resourceGroupName: pulumi.Input<string>;
  readonly location: pulumi.Input<string>;
  readonly access: NetworkAccess;
  /** One NIC (and, over SSH, one public IP) per VM. */
  readonly vmCount: number;
}

/** The VMs' network: see NetworkAccess for what each way to the VMs makes. */
export class Network extends pulumi.ComponentResource {
  /** The subnet the NICs are in (the user's, with existingSubnet). */
  public readonly subnetId: pulumi.Output<string>;
  /** The NSG on the NICs; undefined with existingSubnet (the subnet's own rules apply). */
  public readonly nsgId?: pulumi.Output<string>;
  public readonly nics: network.NetworkInterface[];
  /** One per VM over SSH; none otherwise. */
  public readonly publicIps: network.PublicIPAddress[];
  /** The NAT gateway's own public IP (on no NIC), with natGateway. */
  public readonly natPublicIp?: network.PublicIPAddress;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vm-identity-access:network:Network", name, {}, opts);
    const common = { resourceGroupName: args.resourceGroupName, location: args.location };
    const { access } = args;

    let subnetId: pulumi.Output<string>;
    let nsg: network.NetworkSecurityGroup | undefined;
    if (access.kind === "existingSubnet") {
      // The user's landing zone owns the subnet, its rules and its egress: nothing of it is created here.
      subnetId = pulumi.output(access.subnetId);
    } else {
      const vnet = new network.VirtualNetwork(
        `${name}-vnet`,
        { ...common, addressSpace: { addressPrefixes: ["10.42.0.0/16"] } },
        // Subnets are separate resources; without this, every update of the VNet would delete them.
        { parent: this, ignoreChanges: ["subnets"] },
      );
      let natGateway: network.NatGateway | undefined;
      if (access.kind === "natGateway") {
        // A Standard NAT gateway with a Standard static public IP of its own, which no NIC carries.
        this.natPublicIp = new network.PublicIPAddress(
          `${name}-nat-ip`,
          { ...common, sku: { name: "Standard", tier: "Regional" }, publicIPAllocationMethod: "Static" },
          { parent: this },
        );
        natGateway = new network.NatGateway(
          `${name}-nat`,
          {
            ...common,
            sku: { name: "Standard" },
            publicIpAddresses: [{ id: this.natPublicIp.id }],
            idleTimeoutInMinutes: 4,
          },
          { parent: this },
        );
      }
      const subnet = new network.Subnet(
        `${name}-subnet`,
        {
          resourceGroupName: args.resourceGroupName,
          virtualNetworkName: vnet.name,
          addressPrefix: "10.42.1.0/24",
          ...(natGateway
            ? {
                // A private VM still reaches ARM and its agent's endpoints: through the NAT gateway, explicitly,
                // never through Azure's retiring default outbound access ("Subnets should be private").
                natGateway: { id: natGateway.id },
                defaultOutboundAccess: false,
              }
            : {}),
        },
        { parent: this },
      );
      subnetId = subnet.id;
      nsg = new network.NetworkSecurityGroup(
        `${name}-nsg`,
        {
          ...common,
          // Security control: over SSH, SSH from one network only; through Run Command, no inbound allow rule at
          // all. Every other inbound source falls through to Azure's default DenyAllInBound rule.
          securityRules: access.kind === "ssh" ? [sshRule(access)] : [],
        },
        { parent: this },
      );
    }

    this.publicIps = [];
    this.nics = [];
    for (let i = 0; i < args.vmCount; i++) {
      // Standard and Static: Basic SKU is retired, and a Dynamic address would not be known until
      // the VM runs, while the check must dial it. Only SSH needs one.
      const publicIp =
        access.kind === "ssh"
          ? new network.PublicIPAddress(
              `${name}-ip${i}`,
              { ...common, sku: { name: "Standard", tier: "Regional" }, publicIPAllocationMethod: "Static" },
              { parent: this },
            )
          : undefined;
      const nic = new network.NetworkInterface(
        `${name}-nic${i}`,
        {
          ...common,
          ...(nsg ? { networkSecurityGroup: { id: nsg.id } } : {}),
          ipConfigurations: [
            {
              name: "primary",
              primary: true,
              privateIPAllocationMethod: "Dynamic",
              subnet: { id: subnetId },
              ...(publicIp ? { publicIPAddress: { id: publicIp.id } } : {}),
            },
          ],
        },
        { parent: this },
      );
      if (publicIp) this.publicIps.push(publicIp);
      this.nics.push(nic);
    }

    this.subnetId = subnetId;
    this.nsgId = nsg?.id;
    this.registerOutputs({ subnetId: this.subnetId, ...(this.nsgId ? { nsgId: this.nsgId } : {}) });
  }
}

/** The one inbound rule over SSH: TCP to sshd's port from one network only. */
function sshRule(args: { sshAllowedCidr: string; sshPort?: number }): types.input.network.SecurityRuleArgs {
  return {
    name: "allow-ssh-from-allowed-cidr",
    priority: 100,
    direction: "Inbound",
    access: "Allow",
    protocol: "Tcp",
    sourceAddressPrefix: args.sshAllowedCidr,
    sourcePortRange: "*",
    destinationAddressPrefix: "*",
    destinationPortRange: String(args.sshPort ?? 22),
  };
}
