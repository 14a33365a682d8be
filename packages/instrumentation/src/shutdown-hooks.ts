/**
 * Exports the last interval when the process is told to stop, within a deadline, and then lets
 * it stop as it would have without us.
 *
 * - SIGTERM or SIGINT that the app does not handle: shut down (export the rest), then re-raise
 *   the signal, so the process ends of it as it would have.
 * - A signal the app handles itself (closing its servers, finishing requests): export what is
 *   recorded so far at once, and the rest when the process runs out of work (`beforeExit`).
 * - `beforeExit` (the app ended by itself): shut down, exporting the rest.
 * - `exit` before any of these has ended (process.exit(), an uncaught exception; also an app's
 *   own signal or beforeExit handler that calls process.exit()): nothing asynchronous runs any
 *   more, so a target that can export synchronously (the export worker, waited for) exports the
 *   rest now, within what is left of the deadline.
 *
 * Each of these keeps the process alive (or, at `exit`, blocked) only until the export ends or
 * the deadline passes; past the deadline the process goes on stopping, whatever Redis does.
 */
const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export interface ShutdownTarget {
  /** exports what is recorded so far */
  forceFlush(): Promise<void>;
  /** stops recording and exports the rest */
  shutdown(): Promise<void>;
  /** exports the rest while the process exits, blocking it for at most deadlineMillis */
  exportAtExit?(deadlineMillis: number): void;
}

/** Runs work, holding the process open (one ref'd timer) until it ends or deadlineMillis pass. */
function withinDeadline(work: () => Promise<void>, deadlineMillis: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const deadline = setTimeout(resolve, deadlineMillis);
    const done = (): void => {
      clearTimeout(deadline);
      resolve();
    };
    let running: Promise<void>;
    try {
      running = work();
    } catch {
      running = Promise.resolve();
    }
    running.then(done, done);
  });
}

export function installShutdownHooks(target: ShutdownTarget, deadlineMillis: number): () => void {
  let finalExport: Promise<void> | undefined;
  /** when the final export's wait ends; set once it has begun */
  let finalExportDeadline = 0;
  /** it has ended, or its wait has */
  let finalExportEnded = false;
  const shutdownOnce = (): Promise<void> => {
    if (!finalExport) {
      finalExportDeadline = Date.now() + deadlineMillis;
      finalExport = withinDeadline(() => target.shutdown(), deadlineMillis).finally(() => {
        finalExportEnded = true;
      });
    }
    return finalExport;
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    if (process.listenerCount(signal) > 0) {
      // the app stops in its own way; whatever it records meanwhile goes out at beforeExit
      if (!finalExport) void withinDeadline(() => target.forceFlush(), deadlineMillis);
      return;
    }
    void shutdownOnce().then(() => {
      process.removeListener('beforeExit', onBeforeExit);
      process.kill(process.pid, signal);
    });
  };
  const onBeforeExit = (): void => {
    process.removeListener('beforeExit', onBeforeExit);
    void shutdownOnce();
  };

  const onExit = (): void => {
    // after the final export (beforeExit, a signal) ended, or its wait did, there is nothing left
    if (finalExportEnded) return;
    // none begun, or one begun that the app's process.exit() or a throw cut short (an app's own
    // beforeExit listener that exits, say): done here, within what is left of its deadline
    target.exportAtExit?.(finalExport ? Math.max(0, finalExportDeadline - Date.now()) : deadlineMillis);
  };

  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('beforeExit', onBeforeExit);
  process.on('exit', onExit);
  return () => {
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    process.removeListener('beforeExit', onBeforeExit);
    process.removeListener('exit', onExit);
  };
}
