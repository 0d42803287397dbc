import type { CollectorReport } from '../../src/collectors/types.js';

/** A CollectorReport that records what a collector said, for assertions. */
export class RecordingReport implements CollectorReport {
  readonly unsupportedFields = new Map<string, string>();
  readonly failedFields = new Map<string, string>();

  unsupported(field: string, reason: string): void {
    this.unsupportedFields.set(field, reason);
  }

  failed(field: string, error: unknown): void {
    this.failedFields.set(field, error instanceof Error ? error.message : String(error));
  }
}
