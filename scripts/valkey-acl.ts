/**
 * Prints a Valkey/Redis ACL file giving each agent and the aggregator a user
 * of its own (rules: shared/src/acl.ts; README, "Least privilege in Valkey").
 *
 *   npx tsx scripts/valkey-acl.ts aggregator=<password> <container>=<password> ... > users.acl
 *
 * `aggregator=` names the aggregator's user, `host-agent=` the host agent's
 * (`system-monitor host`, which writes every container's keys); every other
 * `name=password` pair is a container (its user is `agent-<name>`). The `default` user is limited to
 * PING so health checks work and nothing else does without credentials.
 */
import { AclError, aclFileLine, agentAclRules, agentUserName, aggregatorAclRules, defaultUserAclRules, HOST_AGENT_USER, hostAgentAclRules } from '../shared/src/acl.js';

export function aclFile(pairs: string[]): string {
  // An ACL file has no comment syntax: redis-server refuses a line that does not start with `user`.
  const lines = [aclFileLine('default', defaultUserAclRules())];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new AclError(`expected name=password, got ${JSON.stringify(pair.slice(0, 40))}`);
    const name = pair.slice(0, eq);
    const password = pair.slice(eq + 1);
    if (name === 'aggregator') lines.push(aclFileLine('aggregator', aggregatorAclRules(password)));
    else if (name === HOST_AGENT_USER) lines.push(aclFileLine(HOST_AGENT_USER, hostAgentAclRules(password)));
    else lines.push(aclFileLine(agentUserName(name), agentAclRules(name, password)));
  }
  return `${lines.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  try {
    process.stdout.write(aclFile(process.argv.slice(2)));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
