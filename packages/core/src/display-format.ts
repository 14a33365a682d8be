/**
 * Figures as people read them, in the terminal monitor and the web dashboard alike. The query API
 * serves this module's compiled file to the dashboard's page as it is (GET /dashboard-format.js),
 * so it imports nothing and uses nothing a browser lacks.
 */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Bytes in binary units, three significant digits past 1 KiB: 512 B, 1.50 KiB, 12.3 MiB, 500 KiB. */
export function formatBytes(bytes: number): string {
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < BYTE_UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${Math.round(v)} B`;
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${BYTE_UNITS[u] as string}`;
}

/** A time ago or a length of time: 45 s, 12 min, 3.5 h. */
export function formatAge(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** A count with thousands separated: 12,345. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
