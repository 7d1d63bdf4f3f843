import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

/**
 * examples/yaml (over SSH) and examples/yaml-run-command (through Run Command) against the plugin package's
 * committed schema (components/package/schema.json), without the engine: each program names the package
 * where it is, passes only inputs the component has (every required one, enums by their values), reads only
 * outputs it has, and refers only to declared config. tests/engine-tier/yaml.test.ts runs examples/yaml for
 * real; this catches an API change an example missed in npm test.
 */

const root = join(__dirname, "..");
interface Example {
  runtime: string;
  packages: Record<string, string>;
  config: Record<string, { type: string }>;
  resources: Record<string, { type: string; properties: Record<string, unknown> }>;
  outputs: Record<string, string>;
}
const exampleIn = (folder: string) =>
  parse(readFileSync(join(root, "examples", folder, "Pulumi.yaml"), "utf8")) as Example;
const example = exampleIn("yaml");

interface Property {
  type?: string;
  $ref?: string;
  items?: Property;
}
interface ObjectType {
  type: string;
  properties?: Record<string, Property>;
  required?: string[];
  enum?: Array<{ value: string }>;
}
const schema = JSON.parse(readFileSync(join(root, "components", "package", "schema.json"), "utf8")) as {
  name: string;
  types: Record<string, ObjectType>;
  resources: Record<
    string,
    { inputProperties: Record<string, Property>; requiredInputs: string[]; properties: Record<string, Property> }
  >;
};

/** Every way `value` does not fit `property` of the schema, as `path: problem`. */
function misfits(path: string, value: unknown, property: Property): string[] {
  if (typeof value === "string" && /^\$\{[^}]+\}$/.test(value)) return []; // a reference: typed by what it names
  if (property.$ref) {
    const type = schema.types[property.$ref.replace("#/types/", "")];
    if (!type) return [`${path}: the schema has no ${property.$ref}`];
    if (type.enum) {
      const values = type.enum.map((member) => member.value);
      return values.includes(value as string)
        ? []
        : [`${path}: ${JSON.stringify(value)} is not one of ${values.join(", ")}`];
    }
    return objectMisfits(path, value, type.properties ?? {}, type.required ?? []);
  }
  if (property.type === "array") {
    if (!Array.isArray(value)) return [`${path}: not a list`];
    return value.flatMap((item, i) => misfits(`${path}[${i}]`, item, property.items ?? {}));
  }
  return [];
}

function objectMisfits(
  path: string,
  value: unknown,
  properties: Record<string, Property>,
  required: string[],
): string[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return [`${path}: not an object`];
  const given = value as Record<string, unknown>;
  return [
    ...required.filter((name) => !(name in given)).map((name) => `${path}.${name}: required, missing`),
    ...Object.entries(given).flatMap(([name, v]) =>
      properties[name]
        ? misfits(`${path}.${name}`, v, properties[name])
        : [`${path}.${name}: not an input of the component`],
    ),
  ];
}

describe.each([
  ["yaml", "ssh"],
  ["yaml-run-command", "runCommand"],
])("examples/%s fits the plugin package's schema", (folder, transport) => {
  const example = exampleIn(folder);

  it("reaches the VM one way only", () => {
    const ways = ["ssh", "runCommand"].filter((way) => way in example.resources.check.properties);
    expect(ways).toEqual([transport]);
  });

  it("runs on the YAML runtime and names the package by its schema name, at the plugin folder", () => {
    expect(example.runtime).toBe("yaml");
    expect(example.packages).toEqual({ [schema.name]: "../../components/package" });
    const manifest = readFileSync(
      join(root, "examples", folder, example.packages[schema.name], "PulumiPlugin.yaml"),
      "utf8",
    );
    expect(parse(manifest)).toEqual({ runtime: "nodejs" });
  });

  it("gives each resource only inputs the component has, every required one, enums by value", () => {
    const problems = Object.entries(example.resources).flatMap(([name, resource]) => {
      const component = schema.resources[resource.type];
      if (!component) return [`${name}: the package has no ${resource.type}`];
      return objectMisfits(name, resource.properties, component.inputProperties, component.requiredInputs);
    });
    expect(problems).toEqual([]);
  });

  it("reads only outputs the component has, and refers only to declared config and resources", () => {
    const references = JSON.stringify([example.resources, example.outputs]).match(/\$\{[^}]+\}/g) ?? [];
    const unknown = references.filter((reference) => {
      const [head, field] = reference.slice(2, -1).split(".");
      if (field === undefined) return !(head in example.config);
      const resource = example.resources[head];
      return !resource || !(field in schema.resources[resource.type].properties);
    });
    expect(references.length).toBeGreaterThan(0);
    expect(unknown).toEqual([]);
  });
});

describe("the check of examples against the schema", () => {
  it("a wrong input, a missing required one and a wrong enum value are each named (the check can fail)", () => {
    const component = schema.resources["vm-identity-access:index:VmAccessCheck"];
    const broken = {
      ...example.resources.check.properties,
      vmNmae: "x",
      identity: { ...(example.resources.check.properties.identity as object), type: "Managed" },
    };
    delete (broken as Record<string, unknown>).vmName;
    expect(objectMisfits("check", broken, component.inputProperties, component.requiredInputs)).toEqual([
      "check.vmName: required, missing",
      'check.identity.type: "Managed" is not one of SystemAssigned, UserAssigned',
      "check.vmNmae: not an input of the component",
    ]);
  });
});
