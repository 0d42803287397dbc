/** Calls `onSignal` on SIGTERM and SIGINT (each time: the handler decides what a second one means). */
export function onStopSignals(onSignal: (signal: 'SIGTERM' | 'SIGINT') => void): void {
  process.on('SIGTERM', () => {
    onSignal('SIGTERM');
  });
  process.on('SIGINT', () => {
    onSignal('SIGINT');
  });
}

/** Resolves after `ms` without keeping the process alive. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
