// The exploration tools' maths, the twins of explorer/views/tools.py and of inference.py's prior_samples:
// interpolation (straight and spherical), traversals of one dimension at a time, samples of the prior.

import { normals } from "./rng.js";

/** numpy's linspace: n values from a to b, the last exactly b. */
export function linspace(a, b, n) {
  const step = (b - a) / (n - 1);
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? b : a + i * step));
}

const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

/** Points (1 - t) a + t b, one row (z_dim) per t: a Float64Array(t.length * z_dim). */
export function lerp(a, b, t) {
  const zd = a.length, out = new Float64Array(t.length * zd);
  t.forEach((ti, r) => { for (let d = 0; d < zd; d++) out[r * zd + d] = (1 - ti) * a[d] + ti * b[d]; });
  return out;
}

/** Along the great circle through a and b with the norm interpolated linearly (tools.py's slerp). */
export function slerp(a, b, t) {
  const na = norm(a), nb = norm(b);
  if (na < 1e-9 || nb < 1e-9) return lerp(a, b, t);
  const zd = a.length, ua = a.map((v) => v / na), ub = b.map((v) => v / nb);
  const omega = Math.acos(Math.min(1, Math.max(-1, ua.reduce((s, v, d) => s + v * ub[d], 0))));
  if (omega < 1e-6) return lerp(a, b, t);
  const out = new Float64Array(t.length * zd);
  t.forEach((ti, r) => {
    const s0 = Math.sin((1 - ti) * omega), s1 = Math.sin(ti * omega), so = Math.sin(omega), len = (1 - ti) * na + ti * nb;
    for (let d = 0; d < zd; d++) out[r * zd + d] = ((s0 * ua[d] + s1 * ub[d]) / so) * len;
  });
  return out;
}

/** The dimensions to traverse: the `rows` with the most KL first (ties: the lower index). */
export function traversalOrder(weights, rows) {
  return Array.from(weights, (w, d) => [w, d]).sort((p, q) => q[0] - p[0] || p[1] - q[1]).slice(0, Math.min(rows, weights.length)).map((p) => p[1]);
}

/** rows x steps latent points: z with one dimension (per row) set to each value of -span .. +span. */
export function traversalGrid(z, order, steps, span) {
  const zd = z.length, values = linspace(-span, span, steps), out = new Float64Array(order.length * steps * zd);
  order.forEach((dim, r) => values.forEach((v, c) => {
    const o = (r * steps + c) * zd;
    for (let d = 0; d < zd; d++) out[o + d] = z[d];
    out[o + dim] = v;
  }));
  return { grid: out, values };
}

/** n draws z ~ N(0, I) (n x z_dim, float32 as the model computes): the stream "prior" of the generator. */
export function priorZ(C, seed, n, zd) {
  const z = normals(seed, C.rng_streams.prior, n * zd);
  for (let i = 0; i < z.length; i++) z[i] = Math.fround(z[i]);
  return z;
}
