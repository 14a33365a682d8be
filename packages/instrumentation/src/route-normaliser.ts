/**
 * Turns a raw request path into a low-cardinality route when no framework gave a template:
 * the query string is dropped and id-like segments (numbers, UUIDs, hex hashes, long
 * base64url tokens) become `:id`. Results are cached for paths that repeat.
 */
import { urlHash } from './url-hash';

const MAX_ROUTE_LENGTH = 255;
const CACHE_LIMIT = 4096;
const cache = new Map<string, string>();

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/** True for segments that look like an identifier rather than a fixed part of a route. */
export function isIdSegment(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  let digits = 0;
  let hex = 0;
  let letters = 0;
  let b64 = 0;
  let dashes = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) letters++;
    else if (c === 45) dashes++;
    else if (c !== 95) return false; // anything but [A-Za-z0-9_-] is not an id
    if (isHex(c)) hex++;
    if (c !== 45) b64++;
  }
  if (digits === n) return true; // 42, 2024
  if (n === 36 && dashes === 4 && hex === 32 && s[8] === '-' && s[13] === '-' && s[18] === '-' && s[23] === '-') return true; // uuid
  if (dashes === 0 && hex === n && n >= 12 && digits > 0) return true; // hex hash, object id
  if (n >= 20 && digits > 0 && letters > 0 && b64 + dashes === n) return true; // base64url token, nanoid
  return false;
}

/**
 * In front of the cache, a direct-mapped one: slot by a hash of the URL computed here, then one
 * string comparison. Every request brings its URL as a new string, so a Map lookup first hashes
 * all of it in V8's runtime (callgrind, per function, on the benchmark's "/json": some 340
 * instructions a request for the hash, the lookup and the comparison the Map makes). A slot holds
 * the last URL that fell into it; URLs that collide take the Map's path.
 * The server's requests mostly find their series before they get here (url-series-cache.ts);
 * outbound requests, and a URL's first request in each collection interval, do not.
 */
const FRONT_SLOTS = 512;
const FRONT_MAX_URL_LENGTH = 256;
const frontUrls: string[] = new Array<string>(FRONT_SLOTS).fill('');
const frontRoutes: string[] = new Array<string>(FRONT_SLOTS).fill('');

export function normalisePath(url: string): string {
  const n = url.length;
  if (n === 0 || n > FRONT_MAX_URL_LENGTH) return normaliseThroughMap(url);
  const slot = urlHash(url) & (FRONT_SLOTS - 1);
  if (frontUrls[slot] === url) return frontRoutes[slot] as string;
  const route = normaliseThroughMap(url);
  frontUrls[slot] = url;
  frontRoutes[slot] = route;
  return route;
}

function normaliseThroughMap(url: string): string {
  // most URLs carry no query string: then the URL itself is the cache key
  const direct = cache.get(url);
  if (direct !== undefined) return direct;
  let end = url.length;
  const q = url.indexOf('?');
  if (q !== -1) end = q;
  const h = url.indexOf('#');
  if (h !== -1 && h < end) end = h;
  const path = end === url.length ? url : url.slice(0, end);
  const hit = cache.get(path);
  if (hit !== undefined) return hit;
  let route: string;
  if (path === '' || path === '/') route = '/';
  else if (path.charCodeAt(0) !== 47) route = '/'; // absolute-form or garbage: no path to keep
  else {
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) {
      if (isIdSegment(segments[i] as string)) segments[i] = ':id';
    }
    route = segments.join('/');
  }
  if (route.length > MAX_ROUTE_LENGTH) route = route.slice(0, MAX_ROUTE_LENGTH);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(path, route);
  return route;
}
