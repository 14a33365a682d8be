/** A run's progress on one line: how much of its time has passed, and the requests so far. */
export function progressBar(elapsedMs: number, totalMs: number, requests: number): string {
  const width = 30;
  const done = Math.min(width, Math.round((elapsedMs / totalMs) * width));
  return `  [${'#'.repeat(done)}${'.'.repeat(width - done)}] ${(elapsedMs / 1000).toFixed(1).padStart(5)} s  ${requests.toLocaleString('en-US')} requests`;
}
