/** Hash routes: #/ fleet, #/container/<name>?range=1h, #/gpus, #/gpus/compare, #/alerts. */
export type Route =
  | { view: 'fleet' }
  | { view: 'container'; name: string; range: string | null }
  | { view: 'gpus'; compare: boolean }
  | { view: 'alerts' };

export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#/, '');
  const [path = '', query = ''] = h.split('?', 2);
  const q = new URLSearchParams(query);
  const parts = path.split('/').filter((p) => p !== '');
  if (parts[0] === 'container' && parts[1] !== undefined) {
    try {
      return { view: 'container', name: decodeURIComponent(parts[1]), range: q.get('range') };
    } catch {
      return { view: 'fleet' };
    }
  }
  if (parts[0] === 'gpus') return { view: 'gpus', compare: parts[1] === 'compare' };
  if (parts[0] === 'alerts') return { view: 'alerts' };
  return { view: 'fleet' };
}
