/**
 * Figures as people read them, in the terminal monitor and the web dashboard alike. The query API
 * serves these functions' own source to the dashboard's page (GET /dashboard-format.js), so each
 * is whole in itself: it refers to nothing outside its body and uses nothing a browser lacks.
 */

/** Bytes in binary units, two decimals below 10 of a unit, one below 100, none above: 512 B, 1.50 KiB, 12.3 MiB, 500 KiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${Math.round(v)} B`;
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u] as string}`;
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

/** The functions the dashboard's page is given, by the names it calls them. */
export const DISPLAY_FORMATS = { formatBytes, formatAge, formatCount } as const;
