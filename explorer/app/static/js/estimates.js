// Monte Carlo summaries, the twins of explorer/views/estimates.py: a mean with its standard error, and the
// norm of a mean gradient estimated without bias, with a bootstrap s.e. drawn from the shared generator.

import { integers } from "./rng.js";

/** Mean and its s.e. (sample sd with n - 1, over sqrt(n)); NaN s.e. for one value. */
export function meanSe(v) {
  const n = v.length;
  let m = 0;
  for (let i = 0; i < n; i++) m += v[i];
  m /= n;
  return [m, n > 1 ? sd(v, m) / Math.sqrt(n) : NaN];
}

/** The sample standard deviation (n - 1) of v about its mean m. */
export function sd(v, m) {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] - m) ** 2;
  return Math.sqrt(s / (v.length - 1));
}

/** sum_{i != j} g_i . g_j / (k (k - 1)) over the rows `rows` of g (k x d). */
function unbiased(g, d, rows) {
  const k = rows.length, s = new Float64Array(d);
  let sq = 0;
  for (const r of rows) for (let j = 0; j < d; j++) { const v = g[r * d + j]; s[j] += v; sq += v * v; }
  let ss = 0;
  for (let j = 0; j < d; j++) ss += s[j] * s[j];
  return (ss - sq) / (k * (k - 1));
}

/** From per-sample gradients g (k x d): [unbiased ||E g||, its bootstrap s.e., the plain norm of the mean]. */
export function gradNormEstimate(g, k, d, { boot, seed, stream }) {
  const mean = new Float64Array(d);
  for (let r = 0; r < k; r++) for (let j = 0; j < d; j++) mean[j] += g[r * d + j] / k;
  let naive = 0;
  for (let j = 0; j < d; j++) naive += mean[j] * mean[j];
  naive = Math.sqrt(naive);
  if (k < 2) return [naive, NaN, naive];
  const all = Array.from({ length: k }, (_, i) => i);
  const est = Math.sqrt(Math.max(0, unbiased(g, d, all)));
  const idx = integers(seed, stream, boot * k, k), reps = new Float64Array(boot);
  for (let b = 0; b < boot; b++) reps[b] = Math.sqrt(Math.max(0, unbiased(g, d, idx.subarray(b * k, (b + 1) * k))));
  return [est, sd(reps, meanSe(reps)[0]), naive];
}
