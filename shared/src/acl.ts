import { CONTAINERS_KEY, LOG_INDEX_KEY, METRICS_CHANNEL, historyKey, logKey, metricsKey } from './keys.js';

/**
 * Valkey/Redis ACL rules (Redis ≥ 7.0, Valkey ≥ 7.2: key patterns and
 * selectors) for least privilege: each agent may write only its own
 * container's keys, add itself to the registry and the log index, and publish
 * on the metrics channel; the aggregator gets a user of its own limited to the
 * `system:` keys and channels. The rules are the arguments of `ACL SETUSER`
 * and, after `user <name>`, a line of an ACL file (`--aclfile`).
 *
 * What ACLs cannot do: restrict which member a ZADD writes. An agent may add
 * any name to `system:containers` (or lower another's score) and any key name
 * to `system:logindex`; README, "Least privilege in Valkey", says what the
 * aggregator does about that.
 */

/** A container name or user name that can be put in an ACL rule unescaped. */
const SAFE = /^[^\s:*?[\]\\()<>#%&~"'@+!^-][^\s:*?[\]\\()"']*$/;
/** A password for `>password`: ACL files split on whitespace. */
const PASSWORD = /^\S+$/;

export class AclError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AclError';
  }
}

function check(kind: string, value: string, re: RegExp, advice: string): void {
  if (!re.test(value)) throw new AclError(`${kind} ${JSON.stringify(kind === 'password' ? '…' : value)} cannot go into an ACL rule: ${advice}`);
}

/** The per-container key prefix for log entries: `system:logs:<name>:`. */
function logPrefix(container: string): string {
  const sample = logKey(container, 0n);
  return sample.slice(0, sample.length - 1);
}

/** What a cluster client asks every node about the slot map (harmless on a single server, where they fail). */
const CLUSTER_TOPOLOGY = ['+cluster|slots', '+cluster|info'];

/** The ACL user name for an agent: `agent-<container>`. */
export function agentUserName(container: string): string {
  return `agent-${container}`;
}

/**
 * `ACL SETUSER <user>` arguments for the agent of `container`: SET/GET/XADD on
 * its own metrics, history and log keys, ZADD on the registry, ZADD and
 * ZREMRANGEBYSCORE on the log index, PUBLISH (SPUBLISH on a cluster) on the
 * metrics channel, PING and INFO (ioredis's ready check), and on a cluster
 * the two read-only topology queries a cluster client needs (CLUSTER SLOTS,
 * CLUSTER INFO). Nothing else: no other key, no DEL, no SUBSCRIBE, no admin
 * command.
 */
export function agentAclRules(container: string, password: string): string[] {
  check('container name', container, SAFE, 'use letters, digits, . _ and - (no glob, quote or space characters)');
  check('password', password, PASSWORD, 'no whitespace');
  return [
    'reset', 'on', `>${password}`,
    '+set', '+get', '+xadd', '+publish', '+spublish', '+ping', '+info', ...CLUSTER_TOPOLOGY,
    `~${metricsKey(container)}`, `~${historyKey(container)}`, `~${logPrefix(container)}*`,
    `&${METRICS_CHANNEL}`,
    `(+zadd ~${CONTAINERS_KEY})`,
    `(+zadd +zremrangebyscore ~${LOG_INDEX_KEY})`,
  ];
}

/** The ACL user of the host agent (`system-monitor host`), which writes every container's keys. */
export const HOST_AGENT_USER = 'host-agent';

/**
 * `ACL SETUSER host-agent` arguments: what each agent may do, on every
 * container's keys (the host agent publishes for all of them). Still no
 * read of other keys' values beyond its own writes' GET, no DEL, no
 * SUBSCRIBE, no admin command; but it can overwrite any container's sample,
 * which is what choosing host mode means.
 */
export function hostAgentAclRules(password: string): string[] {
  check('password', password, PASSWORD, 'no whitespace');
  const all = (key: string, name: string): string => `~${key.slice(0, key.length - name.length)}*`;
  return [
    'reset', 'on', `>${password}`,
    '+set', '+get', '+xadd', '+publish', '+spublish', '+ping', '+info', ...CLUSTER_TOPOLOGY,
    all(metricsKey('x'), 'x'), all(historyKey('x'), 'x'), `~${logPrefix('x').slice(0, -'x:'.length)}*`,
    `&${METRICS_CHANNEL}`,
    `(+zadd ~${CONTAINERS_KEY})`,
    `(+zadd +zremrangebyscore ~${LOG_INDEX_KEY})`,
  ];
}

/**
 * `ACL SETUSER <user>` arguments for an aggregator: reads, writes, pub/sub,
 * scripts (the leader lock's compare-and-renew) and transactions on `system:*`
 * only, no dangerous command (FLUSHALL, KEYS, CONFIG, DEBUG …) but INFO and
 * a cluster client's topology queries.
 */
export function aggregatorAclRules(password: string): string[] {
  check('password', password, PASSWORD, 'no whitespace');
  return [
    'reset', 'on', `>${password}`,
    '+@read', '+@write', '+@pubsub', '+@scripting', '+@transaction', '+@connection', '-@dangerous', '+info', ...CLUSTER_TOPOLOGY,
    '~system:*', '&system:*',
  ];
}

/**
 * The `default` user (connections that send no credentials, health checks):
 * PING only, so an unauthenticated client can neither read nor write.
 */
export function defaultUserAclRules(): string[] {
  return ['reset', 'on', 'nopass', '+ping'];
}

/** One line of an ACL file. */
export function aclFileLine(user: string, rules: string[]): string {
  check('user name', user, SAFE, 'use letters, digits, . _ and -');
  return `user ${user} ${rules.join(' ')}`;
}
