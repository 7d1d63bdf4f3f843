/**
 * The names of the checks the component itself adds to a result, beside the probe's own (judge.ts):
 * plain constants, so that what reads a result (the runner's verdict line) needs nothing else.
 */

/** The check named in every run's results while its revocation is pending. */
export const REVOCATION_PENDING_CHECK = "revocation-pending";
/** The check that fails when the grant a refused scope waits for is not going away. */
export const GRANT_REMOVED_CHECK = "grant-removed";
