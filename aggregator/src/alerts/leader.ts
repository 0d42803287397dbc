import { EventEmitter } from 'node:events';
import type { ValkeyClient } from '../../../shared/src/valkey.js';
import { LEADER_KEY } from '../../../shared/src/keys.js';
import type { Logger } from '../../../shared/src/log.js';

/** Extends the lock only while we still hold it (a plain PEXPIRE could extend another replica's lock). */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
/** Deletes the lock only while we hold it. */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface LeaderOptions {
  id: string;
  /** Lock lifetime; a dead leader is replaced within about this long. */
  ttlMs?: number;
  /** How often to renew or try to take the lock (default ttl / 3). */
  renewMs?: number;
  key?: string;
  log?: Logger;
  clock?: () => number;
}

/**
 * One leader among aggregator replicas: `SET key id NX PX ttl`, renewed by a
 * compare-and-renew script, released on stop. A leader that cannot renew
 * steps down itself before its lock can expire, so two replicas never both
 * believe they lead for longer than one renew period.
 */
export class LeaderElector extends EventEmitter<{ change: [boolean] }> {
  private leader = false;
  private timer: NodeJS.Timeout | null = null;
  private lastRenewOk = 0;
  private running: Promise<void> | null = null;
  readonly id: string;
  private readonly ttlMs: number;
  private readonly renewMs: number;
  private readonly key: string;
  private readonly clock: () => number;

  constructor(private readonly redis: ValkeyClient, private readonly opts: LeaderOptions) {
    super();
    this.id = opts.id;
    this.ttlMs = opts.ttlMs ?? 5000;
    this.renewMs = opts.renewMs ?? Math.max(50, Math.floor(this.ttlMs / 3));
    this.key = opts.key ?? LEADER_KEY;
    this.clock = opts.clock ?? Date.now;
    if (this.renewMs * 2 >= this.ttlMs) throw new Error(`leader renew period (${this.renewMs} ms) must be under half the ttl (${this.ttlMs} ms)`);
  }

  /** False as soon as the lock may have lapsed, even if a renew round is still hanging. */
  isLeader(): boolean {
    return this.leader && this.clock() - this.lastRenewOk < this.ttlMs - this.renewMs;
  }

  start(): void {
    if (this.timer !== null) return;
    const loop = (): void => {
      this.running = this.attempt().finally(() => {
        this.running = null;
        if (this.timer !== null) this.timer = setTimeout(loop, this.renewMs);
      });
    };
    this.timer = setTimeout(loop, 0);
  }

  /** One acquire-or-renew round; exposed so callers can force an immediate round. */
  async attempt(): Promise<void> {
    try {
      if (this.leader) {
        const ok = await this.redis.eval(RENEW, 1, this.key, this.id, String(this.ttlMs));
        if (ok === 1) this.lastRenewOk = this.clock();
        else this.set(false, 'lock held by another replica');
      } else {
        const ok = await this.redis.set(this.key, this.id, 'PX', this.ttlMs, 'NX');
        if (ok === 'OK') {
          this.lastRenewOk = this.clock();
          this.set(true, 'acquired');
        }
      }
    } catch (err) {
      // Step down before the lock can lapse: another replica may take it after ttl.
      if (this.leader && this.clock() - this.lastRenewOk >= this.ttlMs - this.renewMs) {
        this.set(false, `cannot renew: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private set(leader: boolean, why: string): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.opts.log?.info({ id: this.id, leader, why }, leader ? 'became aggregator leader' : 'no longer aggregator leader');
    this.emit('change', leader);
  }

  /** Stops campaigning and releases the lock if held, so a successor takes over at once. */
  async stop(): Promise<void> {
    const t = this.timer;
    this.timer = null;
    if (t !== null) clearTimeout(t);
    await this.running;
    if (this.leader) {
      this.set(false, 'stopping');
      try {
        await this.redis.eval(RELEASE, 1, this.key, this.id);
      } catch {
        // The lock expires by itself after ttl.
      }
    }
  }
}
