/** One resource's creation, in ms since the run started (parent's clock origin). */
export interface TimelineEvent {
  /** The Pulumi type token, e.g. "azure-native:compute:VirtualMachine". */
  type: string;
  /** The logical name. */
  name: string;
  startedAt: number;
  finishedAt: number;
  /** false when the resource failed (the deployment fails with it). */
  ok: boolean;
}

/** The progress line for a finished resource: `  + <type>  <name>  0.41s` (`  ! …  failed` when it failed). */
export function progressLine(event: TimelineEvent): string {
  const seconds = ((event.finishedAt - event.startedAt) / 1000).toFixed(2);
  return event.ok
    ? `  + ${event.type}  ${event.name}  ${seconds}s`
    : `  ! ${event.type}  ${event.name}  failed after ${seconds}s`;
}
