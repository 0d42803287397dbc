/** The container page's range selector: each range and the history resolution that fits it (MAX_POINTS 5000 on the server). */
export const RANGES = [
  { id: '15m', label: '15 m', seconds: 15 * 60, resolution: 'raw' },
  { id: '1h', label: '1 h', seconds: 3600, resolution: 'raw' },
  { id: '6h', label: '6 h', seconds: 6 * 3600, resolution: '1m' },
  { id: '24h', label: '24 h', seconds: 24 * 3600, resolution: '1m' },
  { id: '7d', label: '7 d', seconds: 7 * 86400, resolution: '5m' },
] as const;

export type Range = (typeof RANGES)[number];
export type RangeId = Range['id'];

export function rangeById(id: string | null | undefined): Range {
  return RANGES.find((r) => r.id === id) ?? RANGES[0];
}

/** The history URL for a container over a range ending now. */
export function historyPath(container: string, range: Range, fields: readonly string[]): string {
  const q = new URLSearchParams({ since: `-${range.seconds}s`, resolution: range.resolution, fields: fields.join(',') });
  return `/api/v1/containers/${encodeURIComponent(container)}/history?${q.toString()}`;
}
