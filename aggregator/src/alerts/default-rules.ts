import { rulesFileSchema, type RulesFile } from './rule-schema.js';

/**
 * Rules used when no rules file is given (documented in aggregator/ALERTS.md).
 * Written as file input, so they pass the same validation as user rules.
 */
export const defaultRulesInput = {
  rules: [
    { id: 'cpu_high', name: 'CPU above 90 % of limit', metric: 'cpu_percent', warn: 90, clear: { warn: 80 }, for: '1m',
      annotations: { summary: '{{container}} uses {{value}} % of its CPU limit' } },
    { id: 'cpu_throttled', name: 'CPU throttled', metric: 'cpu.throttled_percent', warn: 25, clear: { warn: 15 }, for: '2m',
      annotations: { summary: '{{container}} was throttled in {{value}} % of CPU periods' } },
    { id: 'memory_high', name: 'Memory near limit', metric: 'memory_percent', warn: 90, crit: 97, clear: { warn: 85, crit: 95 }, for: '1m',
      annotations: { summary: '{{container}} uses {{value}} % of its memory limit' } },
    { id: 'oom_kill', name: 'OOM kill', kind: 'increase', metric: 'memory.oom_kills_total', severity: 'critical', keep_firing_for: '5m',
      annotations: { summary: 'the kernel OOM-killed a process in {{container}} (total {{value}})' } },
    { id: 'disk_high', name: 'Disk almost full', metric: 'disk_percent', warn: 90, clear: { warn: 85 }, for: '5m',
      annotations: { summary: '{{container}} disk is {{value}} % full' } },
    { id: 'gpu_temperature', name: 'GPU hot', metric: 'gpus[].temperature_c', warn: 85, clear: { warn: 80 }, for: '1m',
      annotations: { summary: 'GPU {{gpu}} of {{container}} is at {{value}} °C' } },
    { id: 'gpu_memory', name: 'GPU memory almost full', metric: 'gpus[].memory_used_percent', warn: 95, clear: { warn: 90 }, for: '2m',
      annotations: { summary: 'GPU {{gpu}} of {{container}} uses {{value}} % of its memory' } },
    { id: 'container_restarted', name: 'Container restarted', kind: 'decrease', metric: 'uptime_seconds', severity: 'warning', keep_firing_for: '5m',
      annotations: { summary: '{{container}} restarted (uptime now {{value}} s)' } },
    { id: 'container_down', name: 'Container down', kind: 'container_down', stale_intervals: 3, critical_intervals: 10,
      annotations: { summary: '{{container}} sent no sample for {{value}} s' } },
  ],
};

export function defaultRules(): RulesFile {
  return rulesFileSchema.parse(defaultRulesInput);
}
