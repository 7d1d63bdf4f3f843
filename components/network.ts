import * as network from "@pulumi/azure-native/network";
import * as pulumi from "@pulumi/pulumi";

export interface NetworkArgs {
  readonly resourceGroupName: pulumi.Input<string>;
  readonly location: pulumi.Input<string>;
  /** The only source the NSG admits to SSH. */
  readonly sshAllowedCidr: string;
  /** The port sshd listens on. Defaults to 22. */
  readonly sshPort?: number;
  /** One public IP and NIC per VM. */
  readonly vmCount: number;
}

/** A VNet with one subnet, an NSG that admits SSH from one CIDR only, and a public IP + NIC per VM. */
export class Network extends pulumi.ComponentResource {
  public readonly subnetId: pulumi.Output<string>;
  public readonly nsgId: pulumi.Output<string>;
  public readonly nics: network.NetworkInterface[];
  public readonly publicIps: network.PublicIPAddress[];

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vm-identity-access:network:Network", name, {}, opts);
    const common = { resourceGroupName: args.resourceGroupName, location: args.location };

    const vnet = new network.VirtualNetwork(
      `${name}-vnet`,
      { ...common, addressSpace: { addressPrefixes: ["10.42.0.0/16"] } },
      // Subnets are separate resources; without this, every update of the VNet would delete them.
      { parent: this, ignoreChanges: ["subnets"] },
    );
    const subnet = new network.Subnet(
      `${name}-subnet`,
      { resourceGroupName: args.resourceGroupName, virtualNetworkName: vnet.name, addressPrefix: "10.42.1.0/24" },
      { parent: this },
    );

    // Security control: SSH from one network only. Every other inbound source falls through to
    // Azure's default DenyAllInBound rule.
    const nsg = new network.NetworkSecurityGroup(
      `${name}-nsg`,
      {
        ...common,
        securityRules: [
          {
            name: "allow-ssh-from-allowed-cidr",
            priority: 100,
            direction: "Inbound",
            access: "Allow",
            protocol: "Tcp",
            sourceAddressPrefix: args.sshAllowedCidr,
            sourcePortRange: "*",
            destinationAddressPrefix: "*",
            destinationPortRange: String(args.sshPort ?? 22),
          },
        ],
      },
      { parent: this },
    );

    this.publicIps = [];
    this.nics = [];
    for (let i = 0; i < args.vmCount; i++) {
      // Standard and Static: Basic SKU is retired, and a Dynamic address would not be known until
      // the VM runs, while the check must dial it.
      const publicIp = new network.PublicIPAddress(
        `${name}-ip${i}`,
        { ...common, sku: { name: "Standard", tier: "Regional" }, publicIPAllocationMethod: "Static" },
        { parent: this },
      );
      const nic = new network.NetworkInterface(
        `${name}-nic${i}`,
        {
          ...common,
          networkSecurityGroup: { id: nsg.id },
          ipConfigurations: [
            {
              name: "primary",
              primary: true,
              privateIPAllocationMethod: "Dynamic",
              subnet: { id: subnet.id },
              publicIPAddress: { id: publicIp.id },
            },
          ],
        },
        { parent: this },
      );
      this.publicIps.push(publicIp);
      this.nics.push(nic);
    }

    this.subnetId = subnet.id;
    this.nsgId = nsg.id;
    this.registerOutputs({ subnetId: this.subnetId, nsgId: this.nsgId });
  }
}
