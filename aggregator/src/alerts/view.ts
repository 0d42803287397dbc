import { VALKEY_RULE_ID, type AlertEngine } from './engine.js';
import { formatValue, renderTemplate } from './metric.js';
import type { ListedAlert } from '../../../shared/src/api.js';
import type { Instance } from './state.js';

/** An alert as `GET /api/v1/alerts` shows it (and as webhooks and Alertmanager get its labels), without who silenced or acknowledged it. */
export type ActiveAlert = Omit<ListedAlert, 'silenced_by' | 'acknowledged'>;

export const iso = (ms: number): string => new Date(ms).toISOString();

/** Labels and annotations of an instance, rendered from its rule. */
export function alertView(engine: AlertEngine, i: Instance): ActiveAlert {
  const rule = engine.rule(i.rule_id);
  const name = i.rule_id === VALKEY_RULE_ID ? 'Valkey unreachable' : rule?.name ?? i.rule_id;
  const vars: Record<string, string> = { container: i.container, value: formatValue(i.value), gpu: i.instance ?? '', rule: name };
  const labels: Record<string, string> = { alertname: i.rule_id, severity: i.severity ?? 'none', ...(rule?.labels ?? {}) };
  if (i.container !== '') labels.container = i.container;
  if (i.instance !== null) labels.gpu = i.instance;
  const annotations: Record<string, string> = { summary: name };
  for (const [k, t] of Object.entries(rule?.annotations ?? {})) annotations[k] = renderTemplate(t, vars);
  if (i.rule_id === VALKEY_RULE_ID) annotations.summary = 'the aggregator cannot reach Valkey; container_down is suspended';
  return {
    fingerprint: i.fingerprint, rule_id: i.rule_id, name, container: i.container, gpu: i.instance, state: i.state,
    severity: i.severity, value: i.value, since: iso(i.active_at ?? i.updated_at), fired_at: i.fired_at === null ? null : iso(i.fired_at),
    labels, annotations,
  };
}
