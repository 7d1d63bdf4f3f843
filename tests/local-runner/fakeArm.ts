/**
 * An ARM fake for the runner's mocks and the azure-native stand-in: PUT stores what it is sent (with
 * ARM's id, name and provisioningState) and answers at once, or starts a long-running operation that
 * fails; GET reads back what a PUT stored; every call is recorded as method and path (query included).
 */

export interface FakeCall {
  method: string;
  path: string;
  body?: unknown;
}

export interface FakeArm {
  calls: FakeCall[];
  /** Resource IDs whose PUT ARM refuses at once: 400 with this code and message. */
  refuse: Map<string, { code: string; message: string }>;
  /** Resource IDs whose PUT is accepted (201, Azure-AsyncOperation) and whose operation then fails. */
  failOperation: Map<string, { code: string; message: string }>;
  /** Resource IDs that read as 404 whatever was PUT. */
  notFound: Set<string>;
  request(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; headers: Record<string, string>; body: unknown }>;
  deleteAndWait(path: string): Promise<unknown>;
}

const OPERATIONS = "https://arm.invalid/operations/";
const NO_HEADERS: Record<string, string> = {};

function idOf(path: string): string {
  return path.split("?")[0];
}

export function fakeArm(): FakeArm {
  const stored = new Map<string, Record<string, unknown>>();
  const operations = new Map<string, { code: string; message: string }>();
  const arm: FakeArm = {
    calls: [],
    refuse: new Map(),
    failOperation: new Map(),
    notFound: new Set(),
    async request(method, path, body) {
      arm.calls.push(body === undefined ? { method, path } : { method, path, body });
      if (path.startsWith(OPERATIONS)) {
        const failure = operations.get(path);
        return { status: 200, headers: NO_HEADERS, body: { status: "Failed", error: failure } };
      }
      const id = idOf(path);
      const key = id.toLowerCase();
      if (method === "PUT") {
        const refused = arm.refuse.get(id);
        if (refused) return { status: 400, headers: NO_HEADERS, body: { error: refused } };
        const { properties: sent, ...rest } = (body ?? {}) as { properties?: Record<string, unknown> };
        // ARM never returns a VM's customData.
        const osProfile = sent?.osProfile as Record<string, unknown> | undefined;
        const properties = osProfile ? { ...sent, osProfile: { ...osProfile, customData: undefined } } : sent;
        const armId = id.replace("/resourcegroups/", "/resourceGroups/");
        const failing = arm.failOperation.get(id);
        const resource = {
          id: armId,
          name: armId.split("/").pop(),
          ...rest,
          properties: { ...properties, provisioningState: failing ? "Failed" : "Succeeded" },
        };
        stored.set(key, resource);
        if (failing) {
          const operation = `${OPERATIONS}${operations.size + 1}`;
          operations.set(operation, failing);
          // Accepted and running, as ARM answers it: the failure shows on the operation, and the
          // resource reads Failed only afterwards (a first answer already Failed is polled by no client).
          const running = { ...resource, properties: { ...resource.properties, provisioningState: "Creating" } };
          return { status: 201, headers: { "azure-asyncoperation": operation }, body: running };
        }
        return { status: 201, headers: NO_HEADERS, body: resource };
      }
      if (method === "GET") {
        if (arm.notFound.has(id)) {
          return { status: 404, headers: NO_HEADERS, body: { error: { code: "ResourceNotFound", message: "gone" } } };
        }
        const resource = stored.get(key);
        if (resource) return { status: 200, headers: NO_HEADERS, body: resource };
        return {
          status: 200,
          headers: NO_HEADERS,
          body: { id, name: id.split("/").pop(), location: "eastus", properties: {} },
        };
      }
      return { status: 200, headers: NO_HEADERS, body: null };
    },
    async deleteAndWait(path) {
      arm.calls.push({ method: "DELETE", path });
      const id = idOf(path);
      if (arm.notFound.has(id)) throw Object.assign(new Error("gone"), { status: 404 });
      stored.delete(id.toLowerCase());
      return {};
    },
  };
  return arm;
}

/** The calls of one method, as `METHOD path`. */
export function callsOf(arm: FakeArm, method?: string): string[] {
  return arm.calls.filter((call) => method === undefined || call.method === method).map((c) => `${c.method} ${c.path}`);
}
