import { diag } from '@opentelemetry/api';

/**
 * A shutdown that runs once however often it is called: recording stops at once, then the export
 * side sends what is left. Its failure is logged, never thrown at the caller (shutdown hooks, the
 * app's own shutdown code).
 */
export function stopOnce(instrumentation: { disable(): void }, stopExport: () => Promise<void>): () => Promise<void> {
  let stopped: Promise<void> | undefined;
  return () => {
    stopped ??= (async () => {
      instrumentation.disable();
      try {
        await stopExport();
      } catch (err) {
        diag.warn(`otel-bandwidth: shutdown did not complete: ${(err as Error).message}`);
      }
    })();
    return stopped;
  };
}
