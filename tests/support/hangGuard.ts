/**
 * Hang guards, not speed limits. Tests wait for events, and a busy machine may take many times as
 * long as an idle one, so these limits only stop what will never finish.
 */

/** How long a test or hook may run before vitest calls it hung (vitest.config.ts). */
export const TEST_TIMEOUT_MS = 300_000;

/**
 * How long a child process a test starts may run before the test kills it: shorter than the test
 * timeout, so a hung child is killed and its output reported while the test can still fail with it,
 * and no child outlives its test.
 */
export const HANG_GUARD_MS = TEST_TIMEOUT_MS - 10_000;
