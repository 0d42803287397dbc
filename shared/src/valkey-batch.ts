import { isCluster, type ValkeyClient } from './valkey.js';

/** One command as a pipeline takes it: name, then arguments (the first argument is the key, if any). */
export type BatchCommand = [name: string, ...args: (string | number | Buffer)[]];

/** Per command, like a pipeline's result: the error, or null and the reply. */
export type BatchResult = [Error | null, unknown][];

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Runs commands in one round trip per server, results in order. On one
 * server (or Sentinel) that is a single pipeline, as before clusters were
 * supported. On a cluster a pipeline may only hold keys of one node, and
 * these commands' keys (a container's metrics key, the registry, its history
 * stream …) hash to different slots: each command is sent on its own and the
 * cluster client's auto-pipelining packs those of one turn into one
 * pipeline per node, so it is still one round trip to each node, in parallel.
 * Commands to different nodes are not ordered with respect to each other.
 */
export async function execBatch(client: ValkeyClient, commands: BatchCommand[]): Promise<BatchResult> {
  if (!isCluster(client)) {
    const results = await client.pipeline(commands).exec();
    if (results === null) throw new Error('pipeline was not executed');
    return results;
  }
  return Promise.all(
    commands.map(([name, ...args]) =>
      client.call(name, ...args).then(
        (v): [Error | null, unknown] => [null, v],
        (err: unknown): [Error | null, unknown] => [asError(err), null],
      ),
    ),
  );
}

/**
 * The values of `keys`, in order (null for a missing key). One MGET on one
 * server; on a cluster MGET refuses keys of different slots, so it becomes
 * one GET per key, auto-pipelined into one round trip per node.
 */
export async function getMany(client: ValkeyClient, keys: string[]): Promise<(string | null)[]> {
  if (keys.length === 0) return [];
  if (!isCluster(client)) return client.mget(keys);
  return Promise.all(keys.map((k) => client.get(k)));
}
