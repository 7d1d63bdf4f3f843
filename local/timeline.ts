/** One resource's step in a run, in ms since the run started (parent's clock origin). */
export interface TimelineEvent {
  /** The Pulumi type token, e.g. "azure-native:compute:VirtualMachine". */
  type: string;
  /** The logical name. */
  name: string;
  startedAt: number;
  finishedAt: number;
  /** false when the resource failed (the deployment fails with it). */
  ok: boolean;
  /**
   * What the engine's step was, when not a create: updated in place, replaced, or left alone (nothing
   * changed since the previous run). Absent: created.
   */
  operation?: "update" | "replace" | "same";
}

const SYMBOLS = { create: "+", update: "~", replace: "+-", same: "=" } as const;

/**
 * The progress line for a finished resource, marked as `pulumi up` marks its steps: `  + <type>  <name>
 * 0.41s` created, `~` updated, `+-` replaced, `=` unchanged; `  ! …  failed` when it failed.
 */
export function progressLine(event: TimelineEvent): string {
  const seconds = ((event.finishedAt - event.startedAt) / 1000).toFixed(2);
  if (!event.ok) return `  ! ${event.type}  ${event.name}  failed after ${seconds}s`;
  const operation = event.operation ?? "create";
  return operation === "same"
    ? `  ${SYMBOLS.same} ${event.type}  ${event.name}  unchanged`
    : `  ${SYMBOLS[operation]} ${event.type}  ${event.name}  ${seconds}s`;
}
