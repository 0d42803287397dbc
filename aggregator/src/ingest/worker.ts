import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../../shared/src/log.js';
import type { IngestCommand, IngestSettings } from './protocol.js';
import { IngestSource } from './source.js';

/**
 * Entry of the ingest thread (`thread.ts` starts it): an IngestSource whose
 * events are posted to the main thread. Built as its own file next to the
 * bundle (dist/aggregator-ingest.cjs).
 */
const port = parentPort;
if (port === null) throw new Error('aggregator/src/ingest/worker.ts is the ingest thread of the aggregator; it is not run on its own');
const settings = workerData as IngestSettings;
const log = createLogger({ name: 'system-monitor-aggregator', level: settings.logLevel }).child({ thread: 'ingest' });
const source = new IngestSource(settings, (e) => {
  port.postMessage(e);
}, log);
port.on('message', (m: IngestCommand) => {
  if (m.type === 'poll') void source.poll();
  else void source.stop().finally(() => {
    port.close();
  });
});
source.start();
