import type { Api } from './api.js';
import type { FleetStore } from './store.js';

/** What a view gets: the shared store and the REST client. */
export interface ViewContext {
  store: FleetStore;
  api: Api;
}

export interface View {
  /** Redraw after a store change; `names` null = everything. */
  update(names: ReadonlySet<string> | null): void;
  destroy(): void;
}
