/**
 * Remembers which things were already logged, so each is logged once, with a
 * bound on what it remembers: keys can come from outside (origins, Valkey
 * keys), and a set of them must not grow without limit. Past the bound,
 * `onFull` runs once and nothing more is logged one by one.
 */
export class LogOnce {
  private readonly seen = new Set<string>();
  private full = false;

  constructor(
    readonly max: number,
    private readonly onFull: () => void,
  ) {}

  /** True the first time `key` is offered while fewer than `max` are remembered. */
  first(key: string): boolean {
    if (this.seen.has(key)) return false;
    if (this.seen.size >= this.max) {
      if (!this.full) this.onFull();
      this.full = true;
      return false;
    }
    this.seen.add(key);
    return true;
  }
}
