// A distribution-free confidence interval for the median of a benchmark's per-round ratios.
//
// The rounds' ratios to bare scatter with the machine (on a shared VM by ±10-30 % a round), and
// their median alone does not say whether a run has resolved a 3 % target. For n values sorted,
// [x(k), x(n-k+1)] holds the population median with probability 1 - 2 P(B <= k-1), B ~ Binomial(n,
// 1/2), whatever the distribution; k is the largest rank that keeps that at or above the level
// asked for. It assumes rounds independent of each other; a server process's own compile choices
// hold for its life (bench/README.md), so rounds from more fresh processes (--restarts) make the
// interval more honest, not only narrower.
'use strict';

/** P(B <= k) for B ~ Binomial(n, 1/2), exact in doubles for the round counts a benchmark has. */
function binomialHalfCdf(n, k) {
  let term = Math.pow(0.5, n); // P(B = 0)
  let sum = term;
  for (let i = 1; i <= k; i++) {
    term = (term * (n - i + 1)) / i;
    sum += term;
  }
  return sum;
}

/**
 * The interval [low, high] around the median of `values` (non-finite ones dropped) at confidence
 * `level` or more, with the confidence it actually has; null when there are too few values for
 * any interval to reach `level` (fewer than 6 at 0.95).
 */
function medianInterval(values, level = 0.95) {
  if (!(level > 0 && level < 1)) throw new RangeError(`confidence level must be between 0 and 1, got ${level}`);
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const n = v.length;
  let best = null;
  for (let k = 1; 2 * k <= n + 1; k++) {
    const confidence = 1 - 2 * binomialHalfCdf(n, k - 1);
    if (confidence < level) break;
    best = { low: v[k - 1], high: v[n - k], confidence };
  }
  return best;
}

/**
 * Where a measured figure stands against a limit, given its interval: 'pass' when the whole
 * interval is on the good side, 'fail' when it is all on the bad side, 'unresolved' when the
 * interval straddles the limit (the run cannot tell) or there is none.
 */
function verdict(interval, limit, goodWhen) {
  if (interval === null) return 'unresolved';
  const good = goodWhen === 'below' ? (x) => x <= limit : (x) => x >= limit;
  if (good(interval.low) && good(interval.high)) return 'pass';
  if (!good(interval.low) && !good(interval.high)) return 'fail';
  return 'unresolved';
}

module.exports = { binomialHalfCdf, medianInterval, verdict };
