/**
 * A hash of a request URL's every character, for the caches in front of the route and series
 * lookups. Each request brings its URL as a new string, whose hash V8 would compute anew for a
 * Map lookup; this one is computed in the caller's compiled code, in int32 arithmetic. It covers
 * the whole URL because URLs of one service differ anywhere: `/users/17/orders` and
 * `/users/18/orders` only in the middle, `/routes/r1` and `/routes/r2` only at the end (a hash
 * of a few characters put the 1,990 URLs of the benchmark's routes handler in some 40 slots).
 */
export function urlHash(url: string): number {
  const n = url.length;
  let h = n;
  for (let i = 0; i < n; i++) h = (Math.imul(h, 31) + url.charCodeAt(i)) | 0;
  // the low bits pick the slot: fold the high ones, which the last characters barely reach, in
  return h ^ (h >>> 13);
}
