/**
 * Pulumi's wire form of a secret, as the mock monitor hands inputs over and takes state back:
 * {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": …}.
 */
export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270";

/** How every secret is shown wherever it must not appear in clear (outputs, state, progress). */
export const SECRET_PLACEHOLDER = "[secret]";

export function isWrappedSecret(value: unknown): value is { value: unknown } {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG_VALUE
  );
}

export function wrapSecret(value: unknown): Record<string, unknown> {
  return { [SECRET_SIG_KEY]: SECRET_SIG_VALUE, value };
}

function mapDeep(value: unknown, onSecret: (inner: unknown) => unknown): unknown {
  if (isWrappedSecret(value)) return onSecret(value.value);
  if (Array.isArray(value)) return value.map((item) => mapDeep(item, onSecret));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapDeep(item, onSecret)]));
  }
  return value;
}

/** The plain values, every secret wrapper removed (what a provider sees). */
export function unwrapSecrets(value: unknown): unknown {
  return mapDeep(value, (inner) => unwrapSecrets(inner));
}

/** Every secret replaced by "[secret]" (what may be stored or printed). */
export function redactSecrets(value: unknown): unknown {
  return mapDeep(value, () => SECRET_PLACEHOLDER);
}
