/**
 * Flushes the last interval when the process is told to stop, within a deadline, and then lets
 * it stop as it would have without us: a signal the app does not handle itself is re-raised.
 */
const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export function installShutdownHooks(flush: () => Promise<void>, deadlineMillis: number): () => void {
  let flushing: Promise<void> | undefined;
  const flushOnce = (): Promise<void> => {
    flushing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, deadlineMillis);
      timer.unref();
      flush().then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        () => {
          clearTimeout(timer);
          resolve();
        },
      );
    });
    return flushing;
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    const appHandlesIt = process.listenerCount(signal) > 0;
    // keep the process alive until the flush ends or the deadline passes
    const keepAlive = setTimeout(() => undefined, deadlineMillis + 1000);
    void flushOnce().then(() => {
      clearTimeout(keepAlive);
      if (!appHandlesIt) process.kill(process.pid, signal);
    });
  };
  const onBeforeExit = (): void => {
    process.removeListener('beforeExit', onBeforeExit);
    void flushOnce();
  };

  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('beforeExit', onBeforeExit);
  return () => {
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    process.removeListener('beforeExit', onBeforeExit);
  };
}
