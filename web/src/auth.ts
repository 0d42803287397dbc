/** The API token: from `?token=` in the page URL (then removed from the address bar) or typed in, kept in session storage. */
const KEY = 'system-monitor.token';

export function tokenFromUrl(href: string): { token: string | null; cleaned: string } {
  const u = new URL(href);
  const t = u.searchParams.get('token');
  if (t === null) return { token: null, cleaned: href };
  u.searchParams.delete('token');
  return { token: t, cleaned: u.toString() };
}

export class TokenStore {
  constructor(private readonly storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>) {}

  get(): string | null {
    const t = this.storage.getItem(KEY);
    return t === null || t === '' ? null : t;
  }

  set(token: string | null): void {
    if (token === null || token.trim() === '') this.storage.removeItem(KEY);
    else this.storage.setItem(KEY, token.trim());
  }
}
