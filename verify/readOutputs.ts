import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { z } from "zod";
import { accessCheckSchema, describeZodError, stackOutputsSchema } from "./schema";

/**
 * Where `npm run verify` reads a stack's outputs from: a real stack (through `pulumi stack output
 * --json`), the local stack (.local-azure/outputs.json), a file, or stdin. Every failure is an
 * InputError with a message a user can act on.
 */

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

export type Source =
  | { kind: "stack"; name: string }
  | { kind: "local"; stateDir: string }
  | { kind: "file"; path: string }
  | { kind: "stdin" };

export interface ReadIo {
  readStdin(): Promise<string>;
  /** Runs a command, resolving to its stdout; rejects with the error of the spawn or exit. */
  runCommand(file: string, args: string[]): Promise<string>;
}

export const defaultReadIo: ReadIo = {
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  },
  runCommand: (file, args) =>
    new Promise((resolve, reject) => {
      execFile(file, args, { maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
        if (error) reject(Object.assign(error, { stderr: String(stderr) }));
        else resolve(String(stdout));
      });
    }),
};

const MAX_INPUT = 32 << 20;

async function readText(source: Source, io: ReadIo): Promise<{ text: string; where: string }> {
  switch (source.kind) {
    case "stdin":
      return { text: await io.readStdin(), where: "stdin" };
    case "file":
      try {
        return { text: await readFile(source.path, "utf8"), where: source.path };
      } catch (error) {
        throw new InputError(
          `cannot read ${source.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        );
      }
    case "local": {
      const path = join(source.stateDir, "outputs.json");
      try {
        return { text: await readFile(path, "utf8"), where: path };
      } catch {
        throw new InputError("no local stack yet: run npm run local first");
      }
    }
    case "stack":
      try {
        return {
          text: await io.runCommand("pulumi", ["stack", "output", "--json", "--stack", source.name]),
          where: `stack ${source.name}`,
        };
      } catch (error) {
        const e = error as NodeJS.ErrnoException & { stderr?: string };
        if (e.code === "ENOENT")
          throw new InputError("the pulumi CLI is not installed (or not on PATH): install it, or use --outputs FILE");
        throw new InputError(
          `pulumi stack output --json --stack ${source.name} failed: ${(e.stderr ?? e.message).trim().split("\n")[0]}`,
        );
      }
  }
}

/** The accessCheck inside the outputs read from `source` (a whole outputs object or a bare accessCheck). */
export async function readAccessCheck(
  source: Source,
  io: ReadIo = defaultReadIo,
): Promise<z.infer<typeof accessCheckSchema>> {
  const { text, where } = await readText(source, io);
  if (text.length > MAX_INPUT)
    throw new InputError(`${where} is larger than ${MAX_INPUT} bytes: not a stack's outputs`);
  if (text.trim() === "")
    throw new InputError(`${where} is empty: expected the JSON that pulumi stack output --json prints`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${where} is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed === "object" && parsed !== null && "accessCheck" in parsed) {
    if ((parsed as { accessCheck: unknown }).accessCheck === "[secret]")
      throw new InputError(secretHint(source, where));
    const outputs = stackOutputsSchema.safeParse(parsed);
    if (!outputs.success)
      throw new InputError(
        `${where} does not hold an accessCheck output of the expected shape: ${describeZodError(outputs.error)}`,
      );
    return outputs.data.accessCheck;
  }
  if (typeof parsed === "object" && parsed !== null && OTHER_OUTPUTS.some((name) => name in parsed)) {
    // Outputs without accessCheck: the deployment stopped before (or failed at) the access check.
    throw new InputError(
      `${where} holds stack outputs but no accessCheck: the deployment did not record an access check (deploy again, then verify)`,
    );
  }
  const bare = accessCheckSchema.safeParse(parsed);
  if (!bare.success) {
    throw new InputError(
      `${where} holds neither stack outputs with accessCheck nor an accessCheck object: ${describeZodError(bare.error)}`,
    );
  }
  return bare.data;
}

/** The program's outputs other than accessCheck: their presence says "this is a stack's outputs". */
const OTHER_OUTPUTS = ["resourceGroupName", "resourceGroupId", "vms", "identity", "sshPrivateKey"];

/** What to do when accessCheck was printed as "[secret]": fetch it with --show-secrets into a file. */
function secretHint(source: Source, where: string): string {
  const stack = source.kind === "stack" ? ` --stack ${source.name}` : "";
  return `${where}: accessCheck is a secret here; save it with \`pulumi stack output accessCheck --json --show-secrets${stack} > access-check.json\` and run npm run verify -- --outputs access-check.json`;
}
