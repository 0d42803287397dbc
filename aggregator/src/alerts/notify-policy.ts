import type { NotifySettings } from './rule-schema.js';
import type { Instance } from './state.js';

export interface Due {
  status: 'firing' | 'resolved';
  /** Distinguishes a severity change or a repeat from the first firing message (idempotency key). */
  reason: 'firing' | 'severity' | 'repeat' | 'resolved';
  keyExtra: string;
}

/**
 * Which notification an instance owes, from its state and the ledger of what
 * was delivered (`notified`). Pure, so the leader can re-derive it after a
 * takeover and never send the same message twice.
 */
export function dueNotification(i: Instance, notify: NotifySettings, now: number): Due | null {
  const n = i.notified;
  if (i.state === 'firing' && i.fired_at !== null && i.severity !== null) {
    if (n === null || n.fired_at !== i.fired_at) return { status: 'firing', reason: 'firing', keyExtra: '' };
    if (n.status !== 'firing') return null;
    if (n.severity !== i.severity) return { status: 'firing', reason: 'severity', keyExtra: `severity:${i.severity}` };
    if (now - n.at >= notify.repeat_interval) return { status: 'firing', reason: 'repeat', keyExtra: `repeat:${n.at}` };
    return null;
  }
  if (i.state === 'resolved' && notify.send_resolved && n !== null && n.status === 'firing' && n.fired_at === i.fired_at) {
    return { status: 'resolved', reason: 'resolved', keyExtra: '' };
  }
  return null;
}
