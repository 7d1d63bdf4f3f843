import { parseSettings, SettingsError } from "../../components/settings";
import { type BadSettingCase, VALID_BASE_SETTINGS } from "./cases";

/** The row's raw settings on top of the valid base; a key set to undefined is removed. */
export function rawSettingsOf(row: BadSettingCase): Record<string, string> {
  const raw: Record<string, string | undefined> = { ...VALID_BASE_SETTINGS, ...row.raw };
  return Object.fromEntries(Object.entries(raw).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/**
 * The SettingsError message parseSettings gives for the row, or null when it accepted the settings.
 * Any other kind of exception is a defect of its own and is rethrown.
 */
export function settingsErrorOf(row: BadSettingCase): string | null {
  try {
    parseSettings(rawSettingsOf(row), row.azureEnvironment);
    return null;
  } catch (error) {
    if (error instanceof SettingsError) return error.message;
    throw error;
  }
}
