import { isContainerName } from '../../../shared/src/container-name.js';

/** Renames the container's key. */
export const NAME_LABEL = 'system-monitor.name';
/** `false` leaves the container out. */
export const ENABLE_LABEL = 'system-monitor.enable';

export type NameDecision = { monitor: true; name: string } | { monitor: false; reason: string };

/**
 * The key name of a container: its `system-monitor.name` label, else its
 * name (Docker's leading `/` dropped); `system-monitor.enable=false` (any
 * case) skips it. A name that cannot be a key (whitespace, `:`, glob
 * characters) skips the container with the reason, rather than publishing
 * under a changed name nobody asked for.
 */
export function decideName(name: string, labels: Readonly<Record<string, string>>): NameDecision {
  const enable = labels[ENABLE_LABEL];
  if (enable !== undefined && enable.trim().toLowerCase() === 'false') return { monitor: false, reason: `label ${ENABLE_LABEL}=false` };
  const labelled = labels[NAME_LABEL]?.trim();
  const chosen = labelled !== undefined && labelled !== '' ? labelled : name.replace(/^\//, '');
  if (!isContainerName(chosen)) {
    return { monitor: false, reason: `${JSON.stringify(chosen.slice(0, 80))}${labelled ? ` (label ${NAME_LABEL})` : ''} cannot be a key name: no whitespace, ":" or glob characters, 1-200 characters` };
  }
  return { monitor: true, name: chosen };
}
