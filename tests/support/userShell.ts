/**
 * The environment of a user's new shell, for the tests that type the README's by-hand commands: none of
 * Azure's, Pulumi's or Local Azure's variables (whatever the test runner has), so that
 * `eval "$(npm run -s local -- env)"` alone provides them.
 */
export function userShellEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const inherited = Object.entries(process.env).filter(([name]) => !/^(PULUMI_|LOCAL_AZURE_|AZURE_)/.test(name));
  return { ...Object.fromEntries(inherited), ...extra };
}
