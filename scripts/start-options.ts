import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigError, fromFlagOrEnv, parseSetting, wholeNumber } from '../shared/src/config.js';
import { valkeyConfigFromEnv } from '../shared/src/valkey.js';

/** What `npm start` was asked for: flags win over the environment, as in the agent. */
export interface StartOptions {
  /** An existing Valkey to use; null: start one. */
  valkeyUrl: string | null;
  /** Port for the Valkey that is started; null: a free one. */
  valkeyPort: number | null;
  /** The aggregator's address. */
  host: string;
  port: number;
  containerName: string;
}

export const START_USAGE = `usage: npm start [-- options]
  --valkey-url <url>    use this Valkey, start none [env VALKEY_URL]
  --valkey-port <port>  port for the Valkey that is started [default: a free port]
  --port <port>         aggregator port [env PORT, default 8080]
  --host <addr>         aggregator address [env HOST, default 127.0.0.1]
  --container-name <n>  the agent's name [env CONTAINER_NAME, default local-<hostname>]
`;

const portNumber = wholeNumber(1, 65535);

/** Parses and validates the start options; a bad value is a ConfigError naming the setting. */
export function parseStartOptions(argv: string[], env: NodeJS.ProcessEnv): StartOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'valkey-url': { type: 'string' },
        'valkey-port': { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        'container-name': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new ConfigError(`${err instanceof Error ? err.message : String(err)}\n${START_USAGE}`);
  }
  const str = (k: string): string | undefined => {
    const v = values[k];
    return typeof v === 'string' ? v : undefined;
  };
  const urlIn = fromFlagOrEnv(str('valkey-url'), '--valkey-url', env, 'VALKEY_URL');
  // Checked now with the agent's own rules, so a typo fails before anything starts.
  if (urlIn !== undefined) {
    try {
      valkeyConfigFromEnv({ VALKEY_URL: urlIn.raw });
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(err.message.replace(/^VALKEY_URL/, urlIn.label));
      throw err;
    }
  }
  const vp = str('valkey-port');
  if (urlIn !== undefined && vp !== undefined) throw new ConfigError('--valkey-port starts a Valkey, --valkey-url/VALKEY_URL uses an existing one: give one of them');
  const portIn = fromFlagOrEnv(str('port'), '--port', env, 'PORT');
  const hostIn = fromFlagOrEnv(str('host'), '--host', env, 'HOST');
  const nameIn = fromFlagOrEnv(str('container-name'), '--container-name', env, 'CONTAINER_NAME');
  const name = nameIn?.raw.trim() ?? `local-${hostname()}`;
  if (!/^[^\s:*?[\]]+$/.test(name)) throw new ConfigError(`${nameIn?.label ?? 'the hostname'}: must not contain whitespace, ":" or glob characters (got ${JSON.stringify(name)}); set CONTAINER_NAME`);
  return {
    valkeyUrl: urlIn?.raw.trim() ?? null,
    valkeyPort: vp === undefined ? null : parseSetting(portNumber, vp, '--valkey-port'),
    host: hostIn?.raw.trim() ?? '127.0.0.1',
    port: portIn === undefined ? 8080 : parseSetting(portNumber, portIn.raw, portIn.label),
    containerName: name,
  };
}

/** Whether `--help` was asked for (handled before validation, so it always works). */
export function wantsHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}
